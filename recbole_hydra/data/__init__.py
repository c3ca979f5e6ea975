"""Input data: checks on RecBole atomic files that name the file and line, and CSV/TSV conversion.

inter_checks.py   `.inter` files checked before RecBole loads them
convert.py        a plain CSV/TSV of (user, item, timestamp) rows into atomic files
"""
