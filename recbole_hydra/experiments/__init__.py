"""Experiments: grids of runs and the tables they write. The only room that imports Ray or matplotlib.

grid.py                the shared protocol and the (model, mode) rows a --models list means
tables.py              result rows into markdown and CSV tables
compare.py             `compare`: the model × mode × seed grid, each run in its own process
comparison_report.py   comparison.md and comparison.png
tune.py                `tune`: a Ray Tune search per (model, mode)
search_spaces.py       properties/search/<Model>.yaml, read and checked
tuning_results.py      a tune folder read back: layout, settings, best configs
bench_cells.py         `bench`: what one (model, N) cell measures
bench_runner.py        running the cells, each in a fresh process
bench_report.py        bench.csv, bench.md, bench.png
stream_bench.py        `stream`: a streamed update against a full recompute
"""
