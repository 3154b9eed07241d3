"""``plot_sweep``: one metric of a sweep summary against one parameter, a line per value of another, with
the confidence interval as error bars. Works on ``summarize``'s table or on summary.csv read back."""

from __future__ import annotations

import math
import numbers
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from maillab.errors import ConfigError

_DODGE = 0.06  # horizontal shift between hue lines on a categorical axis, so error bars do not overlap


def _parameters(summary: pd.DataFrame) -> list[str]:
    if "metric" not in summary.columns or "mean" not in summary.columns:
        raise ConfigError("plot_sweep: expected a summary table (summarize(runs) or summary.csv)")
    columns = list(summary.columns)
    return [c for c in columns[: columns.index("metric")] if c != "point"]


def _rows(summary: pd.DataFrame, x: str, y: str, hue: str | None) -> pd.DataFrame:
    params = _parameters(summary)
    for name, value in (("x", x), ("hue", hue)):
        if value is not None and value not in params:
            raise ConfigError(f"plot_sweep: {name}={value!r} is not a swept parameter; have: {', '.join(params)}")
    data = summary[summary.metric == y]
    if data.empty:
        raise ConfigError(f"plot_sweep: no metric {y!r}; have: {', '.join(dict.fromkeys(summary.metric))}")
    varying = [p for p in params if p not in (x, hue) and data[p].nunique(dropna=False) > 1]
    if varying:
        raise ConfigError(f"plot_sweep: {varying[0]} varies too; pass hue={varying[0]!r} or keep one value "
                          f"(e.g. summary[summary[{varying[0]!r}] == …])")
    return data


def _axes(ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is not None:
        figure = ax.figure
        assert isinstance(figure, Figure)
        return figure, ax
    import matplotlib.pyplot as plt

    figure, new_ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    return figure, new_ax


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def plot_sweep(summary: pd.DataFrame, x: str, y: str, hue: str | None = None, ax: Axes | None = None,
               title: str | None = None) -> Figure:
    """``y`` (a metric) against ``x`` (a parameter), one line per value of ``hue``; error bars: the interval."""
    data = _rows(summary, x, y, hue)
    figure, ax = _axes(ax)
    levels = list(dict.fromkeys(data[x]))
    numeric = all(_is_number(v) for v in levels)
    position = {v: (float(v) if numeric else float(i)) for i, v in enumerate(levels)}
    groups = list(data.groupby(hue, sort=False, dropna=False)) if hue else [(None, data)]
    for i, (value, group) in enumerate(groups):
        shift = 0.0 if numeric else _DODGE * (i - (len(groups) - 1) / 2)
        xs = [position[v] + shift for v in group[x]]
        below = (group["mean"] - group["ci_low"]).fillna(0).clip(lower=0)
        above = (group["ci_high"] - group["mean"]).fillna(0).clip(lower=0)
        label = None if hue is None else str(value[0] if isinstance(value, tuple) else value)
        ax.errorbar(xs, group["mean"], yerr=[below, above], marker="o", capsize=4, linewidth=1.5, label=label)
    if not numeric:
        ax.set_xticks(range(len(levels)), [str(v) for v in levels])
    ax.set_xlabel(x)
    ax.set_ylabel(f"{y} (mean, {_confidence(data)} CI)")
    ax.grid(True, alpha=0.3)
    if hue is not None:
        ax.legend(title=hue)
    runs = data["n"].max() if "n" in data.columns and len(data) else "?"
    heading = f"{y} by {x}" + (f" and {hue}" if hue else "")
    ax.set_title(title or heading + ("\n" if len(heading) > 55 else " ") + f"({runs} runs per point)")
    return figure


def _confidence(data: pd.DataFrame) -> str:
    if "confidence" in data.columns and len(data) and not math.isnan(float(data["confidence"].iloc[0])):
        return f"{100 * float(data['confidence'].iloc[0]):g} %"
    return "95 %"
