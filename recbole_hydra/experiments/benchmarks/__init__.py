"""The benchmarks: step time and memory against history length (`bench`), and streaming (`stream`).

bench_cells.py    what one (model, N) cell is and measures
measure.py        how a step is timed and its memory measured, inside a cell's process
bench_runner.py   running the cells, each in a fresh process, over rounds
stream_bench.py   a streamed update against a full recompute of the history
"""
