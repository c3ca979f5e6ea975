"""Input data: checks on RecBole atomic files that name the file and line, and CSV/TSV conversion.

    inter_checks.py    `.inter` files checked, line by line, before RecBole loads them
    csv_to_atomic.py   a plain CSV/TSV of (user, item, timestamp) rows into atomic files (`convert`)

Knows nothing of RecBole's code: runtime/datasets.py reads what a Config asks of the files.
"""
