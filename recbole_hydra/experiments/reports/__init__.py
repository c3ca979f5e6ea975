"""What the experiments write and read back: result rows into tables, files and plots.

tables.py              result rows into markdown and CSV tables: the one place that formats them
comparison_report.py   comparison.md and comparison.png
claims_report.py       claims.md: each mixer at the batch size its validation score prefers
bench_report.py        bench.csv, bench.md, bench.png, layer_overhead.csv
stream_report.py       stream.md and stream.csv
defaults_report.py     every candidate default on every dataset: the table docs/training.md chooses on
curves.py              validation score against training seconds, read from RecBole's log files
tuning_results.py      a tune folder read back: its layout, each search's settings, the best configs
"""
