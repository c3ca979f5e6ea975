"""What a grid runs: the rows a --models list means, each run's exact settings, one budget for all.

grid.py            the shared protocol, the table of modes, and a model spec → its Rows → its runs
                   (Entry), each with its exact settings (compare, claims, tune and bench share it)
budget.py          one training budget for every row of a table, and the words tables use for it
claims.py          the paper's claims as one --models list (every token mixer, RecBole's peers)
search_spaces.py   properties/search/<Model>.yaml, read and checked, as Ray Tune domains
"""
