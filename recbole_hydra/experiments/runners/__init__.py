"""Where a run trains: each run in a fresh process of its own, on this machine or on a Ray cluster.

local.py     a fresh spawned process on this machine (`run_in_subprocess`, `spawn_run`, `stop_runs`)
cluster.py   a Ray task per run, which starts the same fresh process on its node (`RayRunner`)
"""
