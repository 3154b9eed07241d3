"""Mean and confidence interval per grid point, without SciPy.

``summarize(runs)`` groups a runs table by grid point and gives, for every metric, the number of runs with a
value (``n``), the ``mean``, the sample standard deviation ``std`` (n - 1), and the two-sided Student-t
interval ``mean ± half_width`` with ``half_width = t(1 - (1 - confidence) / 2, n - 1) * std / sqrt(n)``.
NaN values (a latency when nothing was delivered) are left out of ``n``. One run: no interval (NaN).

``t_quantile`` inverts Student's t distribution function for an integer number of degrees of freedom with
the closed forms of Abramowitz & Stegun 26.7.3-4 (bisection), and the Cornish-Fisher expansion above 200.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import pandas as pd

from maillab.errors import ConfigError

SUMMARY_COLUMNS = ("metric", "n", "mean", "std", "half_width", "ci_low", "ci_high", "confidence")
_LARGE_DF = 200


def _t_central(t: float, df: int) -> float:
    """P(-t < T < t) for Student's t with ``df`` degrees of freedom (A&S 26.7.3 odd, 26.7.4 even)."""
    theta = math.atan(t / math.sqrt(df))
    c2, total, term = math.cos(theta) ** 2, 1.0, 1.0
    if df % 2 == 1:
        for k in range(1, (df - 1) // 2):
            term *= c2 * (2 * k) / (2 * k + 1)
            total += term
        inner = math.sin(theta) * math.cos(theta) * total if df > 1 else 0.0
        return 2 / math.pi * (theta + inner)
    for k in range(1, df // 2):
        term *= c2 * (2 * k - 1) / (2 * k)
        total += term
    return math.sin(theta) * total


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (``t_quantile(0.975, 9)`` = 2.262)."""
    if not 0 < p < 1 or df < 1:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df >= 1, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    if p == 0.5:
        return 0.0
    if df > _LARGE_DF:
        z = NormalDist().inv_cdf(p)
        return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
                + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))
    target, low, high = 2 * p - 1, 0.0, 1.0
    while _t_central(high, df) < target:
        low, high = high, high * 2
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if _t_central(middle, df) < target else (low, middle)
        if high - low < 1e-12 * high:
            break
    return (low + high) / 2


def interval(values: Any, confidence: float = 0.95) -> dict[str, float]:
    """n, mean, std, half_width, ci_low, ci_high of the non-NaN ``values``."""
    data = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").astype(float).dropna()
    n = len(data)
    mean = float(data.mean()) if n else math.nan
    std = float(data.std(ddof=1)) if n > 1 else math.nan
    half = t_quantile(1 - (1 - confidence) / 2, n - 1) * std / math.sqrt(n) if n > 1 else math.nan
    return {"n": n, "mean": mean, "std": std, "half_width": half, "ci_low": mean - half, "ci_high": mean + half,
            "confidence": confidence}


def layout(runs: pd.DataFrame, metrics: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """The parameter and metric columns of a runs table: from its ``attrs`` when ``sweep`` made it, else by
    position (parameters before ``replication``, metrics after ``seed``: the layout runs.csv keeps)."""
    columns = list(runs.columns)
    if "replication" not in columns or "seed" not in columns:
        raise ConfigError("summarize: expected a runs table with replication and seed columns (from sweep())")
    params = runs.attrs.get("parameters") or [c for c in columns[: columns.index("replication")] if c != "point"]
    if metrics is None:
        after = columns[columns.index("seed") + 1:]
        metrics = runs.attrs.get("metrics") or after
        metrics = [m for m in metrics if _numeric(runs[m])]
    missing = [m for m in metrics if m not in columns]
    if missing:
        raise ConfigError(f"summarize: no metric column {', '.join(missing)}; have: {', '.join(columns)}")
    return list(params), list(metrics)


def _numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def summarize(runs: pd.DataFrame, metrics: Sequence[str] | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """One row per grid point and metric: point, the parameters, metric, n, mean, std, half_width, ci_low,
    ci_high, confidence (tidy: filter ``metric == …`` to plot or pivot)."""
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be between 0 and 1, got {confidence}")
    params, names = layout(runs, metrics)
    keys = (["point"] if "point" in runs.columns else []) + params
    groups = runs.groupby(keys, sort=False, dropna=False) if keys else [((), runs)]
    rows = []
    for key, group in groups:
        values = key if isinstance(key, tuple) else (key,)
        for name in names:
            rows.append({**dict(zip(keys, values, strict=True)), "metric": name,
                         **interval(group[name], confidence)})
    frame = pd.DataFrame(rows, columns=[*keys, *SUMMARY_COLUMNS])
    frame.attrs.update({"parameters": params, "metrics": names, "confidence": confidence})
    return frame
