"""Experiments: grids of runs and the tables they write. The only room that imports Ray or matplotlib.

Commands at the top plan, run and write, through four sub-rooms by job:

    compare.py     `compare` (and `claims`): the model × mode × seed grid, each run in its own process
    tune.py        `tune`: a Ray Tune search per (model, mode)
    epoch_profile.py   `profile`: one training epoch, stage by stage, against a FLOP floor
    serve_bench.py     `serve-bench`: load test of `serve` over HTTP (cells, servers, report)
    serve_load.py      the load generator serve_bench drives (aiohttp, bounded)
    lifelong_eval.py   `lifelong-eval`: test accuracy of a stream over the last N events and over the whole history
    grids/         what runs: a --models spec → rows → runs with their settings, one budget, the claims grid
    runners/       where a run trains: a fresh process on this machine, or a Ray task on a cluster
    benchmarks/    `bench` and `stream`: what a cell measures and how, run each in a fresh process
    reports/       tables, and the files each command writes and reads back

Sub-rooms import one way (tests/test_layout.py): benchmarks → grids; reports → grids, benchmarks;
the two commands → all of them.
"""
