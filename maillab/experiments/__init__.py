"""The machinery behind ``maillab.sweep``: many runs of one lab, on Dask, cached, summarised.

    plan.py      the grid points, the replication seeds (common random numbers), one RunTask per run, cache keys
    runner.py    what a worker does with a RunTask: build the lab, run it, compute the metrics
    cache.py     finished runs on disk, one JSON file per run, keyed by lab, parameters, seed and ``until``
    execute.py   running the tasks: in this process, on a local Dask cluster, or on an existing one
    stats.py     Student's t quantiles, ``summarize`` (mean and confidence interval per grid point)
    figures.py   ``plot_sweep``: a metric against a parameter, error bars from the confidence interval

Notebooks and the command line use the public face, ``maillab.sweep``. Importing this package imports
neither Dask nor matplotlib.
"""
