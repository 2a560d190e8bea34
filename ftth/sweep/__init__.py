"""Sweeps: a scenario over a grid of dotted keys × seeds, on a process pool or Dask, into SQLite.

* :mod:`ftth.sweep.grid`: ``--grid KEY=V1,V2,…`` / ``KEY=START:STOP:STEP`` and the points.
* :mod:`ftth.sweep.spec`: the sweep checked before anything runs, and its tasks.
* :mod:`ftth.sweep.runs`: one run from (scenario, point, seed) to its row; the loop.
* :mod:`ftth.sweep.executors`: in process, local process pool, Dask distributed.
* :mod:`ftth.sweep.store`: the SQLite results file (one row per run, resumable).
* :mod:`ftth.sweep.summary`: mean and 95 % Student-t interval over seeds per point.

``ftth sweep`` (:mod:`ftth.cli.sweep`) and ``ftth compare-dba`` (:mod:`ftth.compare`) both run
on this machinery.
"""
