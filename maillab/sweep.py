"""Experiments: a lab run over a grid of parameters, replicated, on Dask, summarised with confidence intervals.

    from maillab.sweep import sweep, summarize, plot_sweep

    runs = sweep("topologies/backup-mx.yaml",
                 grid={"failures.0.end": ["1h", "2h30m", "4h"], "hosts.mx2.b.example.retry": ["postfix", "exim"]},
                 replications=10, seed=1, workers=2, cache_dir="sweep-cache")
    runs                                   # one row per run: point, parameters, replication, seed, metrics
    summary = summarize(runs)              # one row per grid point and metric: n, mean, std, 95 % CI
    plot_sweep(summary, x="failures.0.end", y="latency_p90", hue="hosts.mx2.b.example.retry")

``maillab.sweep(...)`` also works (this module is callable and forwards to ``sweep``).

Grid keys are the key paths of ``maillab run --set`` (host and domain names may contain dots); values are
read as YAML when they are strings. Replication ``k`` runs with seed ``seed * 1000 + k`` in every grid
point: common random numbers (``maillab.experiments.plan``). Results are the same whatever the number of
workers; with ``cache_dir`` finished runs are kept and a repeated or extended sweep runs only what is new.
See docs/experiments.md.
"""

from __future__ import annotations

import math
import sys
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maillab.experiments.plan import SEED_STRIDE, make_plan, replication_seed
from maillab.experiments.runner import Metrics
from maillab.experiments.stats import summarize, t_quantile

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["SEED_STRIDE", "plot_sweep", "replication_seed", "summarize", "summary_table", "sweep", "t_quantile"]

#: the figures ``summary_table`` shows when not told which (all of them are in the summary table)
SHOWN_METRICS = ("delivered", "bounced", "latency_p50", "latency_p90", "latency_max", "attempts_per_message")


def sweep(lab_or_file: Any, grid: Mapping[str, Sequence[Any]] | None = None, replications: int = 1,
          seed: int | None = None, metrics: Metrics = None, until: float | str | None = None,
          workers: int | None = None, scheduler: Any = None, cache_dir: str | Path | None = None,
          progress: bool | None = None, overrides: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Run ``lab_or_file`` at every point of ``grid``, ``replications`` times each; one row per run.

    lab_or_file  a lab file (path, or a shipped lab's name), or a factory ``(seed, params) -> Lab`` whose
                 ``params`` is the grid point (a dict); it must build ``Lab(seed=seed)``
    grid         {key.path: [values…]}; every combination is a grid point ({} or None: one point)
    replications runs per grid point; replication k has seed ``seed * 1000 + k`` in every point
    seed         base seed (default: the file's ``lab.seed``, 1 when unset)
    metrics      None: every figure of ``lab.summary()``; a list of some of them; a function
                 ``lab -> {name: value}``; or {name: function lab -> value}
    until        simulated time to run to (seconds or "6h"; default: the lab's duration)
    workers      processes of the local Dask cluster (default: one per CPU)
    scheduler    "tcp://host:port" or a ``distributed.Client`` for an existing cluster; "synchronous":
                 this process, without Dask
    cache_dir    keep finished runs here and skip them next time (default: no cache)
    progress     a progress bar (default: only on a terminal or in a notebook)
    overrides    {key.path: value} applied to every run (like ``--set``)

    The table's ``attrs`` hold the parameter and metric names, the base seed, and ``runs_executed`` /
    ``runs_cached``. Bad input raises ``ConfigError`` before anything runs.
    """
    from maillab.experiments.cache import RunCache
    from maillab.experiments.execute import check_target, execute

    check_target(workers, scheduler)
    plan = make_plan(lab_or_file, grid or {}, replications, seed, metrics, until, overrides)
    cache = RunCache(cache_dir) if cache_dir is not None else None
    values, executed = execute(plan.tasks, workers=workers, scheduler=scheduler, progress=progress, cache=cache)
    return plan.table(values, executed)


def plot_sweep(summary: pd.DataFrame, x: str, y: str, hue: str | None = None, ax: Axes | None = None,
               title: str | None = None) -> Figure:
    """Metric ``y`` against parameter ``x`` (a line per value of ``hue``), error bars = confidence interval.
    ``summary`` is ``summarize(runs)`` or summary.csv read back (``pd.read_csv``)."""
    from maillab.experiments.figures import plot_sweep as draw

    return draw(summary, x, y, hue, ax, title)


def plus_minus(mean: float, half_width: float) -> str:
    """``402 ± 12``, ``0.432 ± 0.012``: the half-width to two significant digits, the mean to match."""
    if math.isnan(mean):
        return "-"
    if math.isnan(half_width) or half_width == 0:
        return f"{mean:.0f}" if float(mean).is_integer() else f"{mean:.4g}"
    decimals = min(6, max(0, 1 - math.floor(math.log10(abs(half_width)))))
    return f"{mean:.{decimals}f} ± {half_width:.{decimals}f}"


def summary_table(summary: pd.DataFrame, metrics: Sequence[str] | None = None) -> str:
    """A summary as an aligned text table: a row per grid point, ``mean ± half-width`` per metric (by default
    those of ``SHOWN_METRICS`` that are present, else the first six)."""
    available = list(dict.fromkeys(summary.metric))
    shown = list(metrics) if metrics else [m for m in SHOWN_METRICS if m in available] or available[:6]
    columns = list(summary.columns)
    params = [c for c in columns[: columns.index("metric")] if c != "point"]
    keys = ["point"] if "point" in columns else params
    header = [*params, "runs", *shown]
    rows = []
    for _, group in summary.groupby(keys, sort=False, dropna=False):
        by_metric = {row.metric: row for row in group.itertuples(index=False)}
        first = group.iloc[0]
        cells = [str(first[p]) for p in params] + [str(int(group["n"].max()))]
        cells += [plus_minus(by_metric[m].mean, by_metric[m].half_width)
                  if m in by_metric else "-" for m in shown]
        rows.append(cells)
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    numeric_from = len(params)
    lines = ["  ".join(c.ljust(w) if i < numeric_from else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths,
             strict=True))) for r in [header, *rows]]
    return "\n".join("  " + line.rstrip() for line in lines)


class _CallableModule(types.ModuleType):
    """``maillab.sweep(...)``: importing the submodule makes ``maillab.sweep`` this module, so the module
    itself forwards calls to ``sweep``."""

    def __call__(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
