"""Figures of a lab's results. Each function takes result tables (or a Lab), draws on ``ax`` if given,
and returns the matplotlib Figure. Nothing here needs a display.

    latency_cdf(runs)        delivery latency CDFs, several runs or policies on one axis
    retry_timeline(lab)      one row per message: attempts coloured by outcome, failure windows shaded
    queue_length(lab)        queued jobs per host over time
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

OUTCOME_COLOURS = {
    "delivered": "#2a9d8f",
    "deferred": "#e9c46a",
    "refused": "#f4a261",
    "timeout": "#e76f51",
    "bounced": "#9b2226",
    "dns": "#6d597a",
    "suspended": "#adb5bd",
    "lost": "#000000",
}
_TIME_UNITS = ((86400.0, "days"), (3600.0, "hours"), (60.0, "minutes"), (1.0, "seconds"))


def _axes(ax: Axes | None, size: tuple[float, float] = (8, 4.5)) -> tuple[Figure, Axes]:
    if ax is not None:
        figure = ax.figure
        assert isinstance(figure, Figure)
        return figure, ax
    figure, new_ax = plt.subplots(figsize=size, layout="constrained")
    return figure, new_ax


def _table(source: Any, name: str) -> pd.DataFrame:
    """A result table from a Lab (its attribute) or the DataFrame itself."""
    table = getattr(source, name) if hasattr(source, name) and not isinstance(source, pd.DataFrame) else source
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a Lab or a {name} DataFrame, got {type(source).__name__}")
    return table


def time_unit(span: float) -> tuple[float, str]:
    """A readable unit for a time span in seconds: (seconds per unit, name)."""
    for size, name in _TIME_UNITS:
        if span >= 2 * size:
            return size, name
    return 1.0, "seconds"


def latency_cdf(runs: Any, ax: Axes | None = None, log: bool = True, title: str | None = None) -> Figure:
    """Empirical CDF of delivery latency. ``runs``: a Lab, a messages table, or {label: Lab or table}."""
    figure, ax = _axes(ax)
    named = runs if isinstance(runs, Mapping) else {"": runs}
    for label, run in named.items():
        table = _table(run, "messages")
        latency = np.sort(table.latency.dropna().to_numpy())
        share = np.arange(1, len(latency) + 1) / max(1, len(table))
        delivered = f"{len(latency)}/{len(table)} delivered"
        ax.step(latency, share, where="post", label=f"{label} ({delivered})" if label else delivered, linewidth=2)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("delivery latency (seconds" + (", log scale)" if log else ")"))
    ax.set_ylabel("share of messages delivered")
    ax.set_ylim(0, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title or "Delivery latency (CDF over all messages; bounced ones never reach 1)")
    return figure


def retry_timeline(
    lab: Any, ax: Axes | None = None, limit: int = 40, failures: pd.DataFrame | None = None, title: str | None = None
) -> Figure:
    """One row per message (the first ``limit``): each attempt a mark coloured by its outcome, the
    delivery (or bounce) a larger mark, and failure windows of hosts and links shaded behind."""
    attempts, messages = _table(lab, "attempts"), _table(lab, "messages")
    if failures is None and hasattr(lab, "failures"):
        failures = lab.failures
    shown = list(dict.fromkeys(messages.message_id))[:limit]
    row = {message: i for i, message in enumerate(shown)}
    end = max([attempts.end.max() if len(attempts) else 0, messages.delivered.max(), messages.bounced.max(), 1.0])
    unit, unit_name = time_unit(float(np.nanmax([end, 1.0])))
    figure, ax = _axes(ax, (9, max(2.5, 0.28 * len(shown) + 1.5)))
    _shade_failures(ax, failures, unit, end)
    picked = attempts[attempts.message_id.isin(row)]
    for outcome, group in picked.groupby("outcome"):
        ax.scatter(group.start / unit, group.message_id.map(row), s=28, marker="|", linewidths=2,
                   color=OUTCOME_COLOURS.get(str(outcome), "#555555"), zorder=3)
    done = messages[messages.message_id.isin(row)]
    ax.scatter(done.delivered / unit, done.message_id.map(row), s=60, marker="o", facecolors="none",
               edgecolors=OUTCOME_COLOURS["delivered"], linewidths=1.5, zorder=4)
    ax.scatter(done.bounced / unit, done.message_id.map(row), s=60, marker="x", color=OUTCOME_COLOURS["bounced"],
               zorder=4)
    ax.set_yticks(range(len(shown)), [m.split("@")[0] for m in shown], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"simulated time ({unit_name})")
    ax.set_title(title or f"Retry timeline ({len(shown)} of {messages.message_id.nunique()} messages)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(handles=_timeline_legend(set(picked.outcome), failures), loc="upper left", bbox_to_anchor=(1.01, 1),
              fontsize=8, frameon=False)
    return figure


def _shade_failures(ax: Axes, failures: pd.DataFrame | None, unit: float, end: float) -> None:
    if failures is None or failures.empty:
        return
    for failure in failures.itertuples():
        stop = failure.end if pd.notna(failure.end) else end
        ax.axvspan(failure.start / unit, stop / unit, color="#d62828", alpha=0.12, zorder=0)
        ax.text(failure.start / unit, -0.6, f" {failure.kind}: {failure.target}", fontsize=7, color="#9d0208",
                va="bottom")


def _timeline_legend(outcomes: set[str], failures: pd.DataFrame | None) -> list[Any]:
    handles: list[Any] = [Line2D([], [], color=OUTCOME_COLOURS.get(o, "#555555"), marker="|", linestyle="",
                                 markersize=10, markeredgewidth=2, label=f"attempt: {o}") for o in sorted(outcomes)]
    handles.append(Line2D([], [], marker="o", color=OUTCOME_COLOURS["delivered"], markerfacecolor="none",
                          linestyle="", label="delivered"))
    handles.append(Line2D([], [], marker="x", color=OUTCOME_COLOURS["bounced"], linestyle="", label="bounced"))
    if failures is not None and not failures.empty:
        handles.append(Patch(color="#d62828", alpha=0.12, label="failure window"))
    return handles


def queue_length(lab: Any, ax: Axes | None = None, hosts: list[str] | None = None, title: str | None = None) -> Figure:
    """Jobs queued (active + deferred) per host over time, as steps."""
    queue = _table(lab, "queue")
    figure, ax = _axes(ax)
    if queue.empty:
        ax.text(0.5, 0.5, "no queue activity", ha="center", va="center", transform=ax.transAxes)
        return figure
    unit, unit_name = time_unit(float(queue.time.max()))
    names = hosts or [h for h, g in queue.groupby("host") if (g.active + g.deferred).max() > 0]
    for host in names:
        rows = queue[queue.host == host]
        ax.step(rows.time / unit, rows.active + rows.deferred, where="post", label=host, linewidth=1.8)
    ax.set_xlabel(f"simulated time ({unit_name})")
    ax.set_ylabel("messages in queue (per destination)")
    ax.set_title(title or "Queue length per host")
    ax.grid(True, alpha=0.3)
    if names:
        ax.legend(fontsize=8)
    return figure
