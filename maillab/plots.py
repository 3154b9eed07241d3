"""Figures of a lab's results. Each function takes result tables (or a Lab, or anything with the tables as
attributes, such as ``maillab.cli_plot.load_results(DIR)``), draws on ``ax`` if given (else on a new
figure of ``figsize``), and returns the matplotlib Figure. Nothing here needs a display.

    latency_cdf(runs)             delivery latency CDFs, several runs or policies on one axis (log time)
    latency_histogram(runs)       the same latencies as histograms on log-spaced bins
    retry_timeline(lab)           one row per message: attempts by outcome, origin vs later hops, failures shaded
    queue_length(lab)             queued jobs per host over time
    queue_shape(lab, at=t)        Postfix qshape as a heat map: destination x age in queue, at one time
    topology(lab, at=t)           the network: hosts by role, links with latency, down elements greyed at t
    sequence_diagram(lab, ...)    one SMTP connection: client and server lanes, slanted arrows, handshake
    message_path(lab, message)    where one message's time went: a bar per attempt, hop after hop
    attempt_rate(lab)             delivery attempts over time by outcome (retry storms)
    attempts_per_message(runs)    how many attempts messages needed, several runs side by side
    latency_vs_load(runs)         latency percentiles against offered load, one point per run

``runs`` is a Lab (or a messages table), or a mapping {label: Lab or table} to compare several.
``qshape(lab, at)`` returns the queue-shape numbers as a DataFrame; ``standard_figures`` and ``write_figures``
make the set of PNG files that ``maillab plot`` writes.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Patch
from matplotlib.ticker import AutoLocator, FixedLocator, NullLocator
from matplotlib.transforms import offset_copy

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
FAILURE_COLOURS = {
    "down": "#d62828", "flapping": "#d62828", "refuse": "#f77f00", "crash": "#7b2cbf", "link": "#8d6e63",
    "partition": "#8d6e63", "dns": "#1d4ed8", "not_willing": "#e85d04", "disk_full": "#6a4c93",
}
ROLE_STYLES = {  # role -> (marker, colour, legend name)
    "client": ("s", "#8ecae6", "client (workstation)"),
    "submission": ("D", "#219ebc", "submission server"),
    "relay": ("h", "#ffb703", "relay"),
    "mx": ("o", "#2a9d8f", "MX (mailbox host)"),
    "router": ("p", "#adb5bd", "router"),
}
OUTCOME_NOTES = {
    "delivered": "delivered (2xx)",
    "deferred": "deferred (4xx: try later)",
    "refused": "connection refused",
    "timeout": "timeout (no answer)",
    "bounced": "rejected (5xx)",
    "dns": "DNS lookup failed",
    "suspended": "suspended (destination\nmarked dead: no connection)",
    "lost": "lost (crash)",
}
HOST_DOWN_KINDS = ("down", "refuse", "crash", "flapping")  # a host out of service in these windows
HOST_DEGRADED_KINDS = ("not_willing", "disk_full")  # up, but answering 421/554 or 452
QSHAPE_BUCKETS = (5, 10, 20, 40, 80, 160, 320, 640, 1280)  # minutes, as Postfix's qshape prints them
FINAL_OUTCOMES = ("delivered", "bounced")
_FINE_LOG_TICKS = tuple((v * unit, f"{v:g} {name}") for unit, name, values in (
    (0.001, "ms", (1, 2, 5, 10, 20, 50, 100, 200, 500)), (1, "s", (1, 2, 5, 10, 20, 30)),
    (60, "min", (1, 2, 5, 10, 20, 30)), (3600, "h", (1, 2, 3, 4, 6, 12)), (86400, "d", (1, 2, 4, 7)))
    for v in values)
_TIME_UNITS = ((86400.0, "days"), (3600.0, "hours"), (60.0, "minutes"), (1.0, "seconds"))
_LOG_TICKS = ((0.001, "1 ms"), (0.01, "10 ms"), (0.1, "0.1 s"), (1, "1 s"), (10, "10 s"), (60, "1 min"),
              (600, "10 min"), (3600, "1 h"), (6 * 3600, "6 h"), (86400, "1 d"), (4 * 86400, "4 d"))


# --- shared helpers ------------------------------------------------------------------------------------------

def _axes(ax: Axes | None, size: tuple[float, float] = (8, 4.5), figsize: tuple[float, float] | None = None
          ) -> tuple[Figure, Axes]:
    if ax is not None:
        figure = ax.figure
        assert isinstance(figure, Figure)
        return figure, ax
    figure, new_ax = plt.subplots(figsize=figsize or size, layout="constrained")
    return figure, new_ax


def _figure_of(ax: Axes) -> Figure:
    figure: Any = ax.figure
    while not isinstance(figure, Figure):  # a SubFigure: its .figure is the root figure
        figure = figure.figure
    return figure


def _table(source: Any, name: str) -> pd.DataFrame:
    """A result table from a Lab (its attribute) or the DataFrame itself."""
    table = getattr(source, name) if hasattr(source, name) and not isinstance(source, pd.DataFrame) else source
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a Lab or a {name} DataFrame, got {type(source).__name__}")
    return table


def _optional_table(source: Any, name: str) -> pd.DataFrame | None:
    table = getattr(source, name, None) if not isinstance(source, pd.DataFrame) else None
    return table if isinstance(table, pd.DataFrame) else None


def _runs(runs: Any, name: str = "messages") -> dict[str, pd.DataFrame]:
    """{label: table} from one run or a mapping of runs (labels may be numbers: they are kept as text)."""
    named = runs if isinstance(runs, Mapping) else {"": runs}
    return {str(label): _table(run, name) for label, run in named.items()}


def time_unit(span: float) -> tuple[float, str]:
    """A readable unit for a time span in seconds: (seconds per unit, name)."""
    for size, name in _TIME_UNITS:
        if span >= 2 * size:
            return size, name
    return 1.0, "seconds"


def _log_time_axis(ax: Axes, low: float, high: float, axis: str = "x") -> None:
    """Log scale with ticks people read (1 s, 1 min, 1 h, 1 d …); finer ones when the range is narrow."""
    low, high = max(low, 1e-4), max(high, low * 1.5, 2e-4)
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    target = ax.xaxis if axis == "x" else ax.yaxis
    ticks = [(v, s) for v, s in _LOG_TICKS if low / 1.3 <= v <= high * 1.3]
    if len(ticks) < 3:
        ticks = [(v, s) for v, s in _FINE_LOG_TICKS if low / 1.3 <= v <= high * 1.3]
    (ax.set_xlim if axis == "x" else ax.set_ylim)(low / 1.3, high * 1.3)
    if len(ticks) >= 2:
        target.set_major_locator(FixedLocator([v for v, _ in ticks]))
        target.set_ticklabels([s for _, s in ticks])
        target.set_minor_locator(NullLocator())


def _short_id(message_id: str) -> str:
    return str(message_id).split("@")[0].split(".s")[0]


def _end_of(values: Iterable[float]) -> float:
    finite = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return max(finite + [1.0])


def _no_data(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, what, ha="center", va="center", transform=ax.transAxes, color="#555555")


# --- latency ---------------------------------------------------------------------------------------------------

def latency_cdf(runs: Any, ax: Axes | None = None, log: bool = True, title: str | None = None,
                figsize: tuple[float, float] | None = None) -> Figure:
    """Empirical CDF of delivery latency. ``runs``: a Lab, a messages table, or {label: Lab or table}.
    Each curve ends at the share of messages delivered (bounced or queued ones never arrive)."""
    figure, ax = _axes(ax, (8, 4.5), figsize)
    tables = _runs(runs)
    lows, highs = [], []
    for label, table in tables.items():
        latency = np.sort(table.latency.dropna().to_numpy())
        p50 = f", p50 {_duration(float(np.median(latency)))}" if len(latency) else ""
        bounced = int((table.status == "bounced").sum()) if "status" in table else 0
        name = f"{len(latency)}/{len(table)} delivered" + (f" ({bounced} bounced)" if bounced else "") + p50
        if len(latency):
            lows.append(latency[0])
            highs.append(latency[-1])
        x = np.concatenate([latency[:1], latency])  # the curve rises from 0 at the first delivery
        y = np.arange(len(x)) / max(1, len(table))
        ax.step(x, y, where="post", label=f"{label}: {name}" if label else name, linewidth=2)
    if log and lows:
        _log_time_axis(ax, min(lows), max(highs))
    ax.set_xlabel("delivery latency" + (" (log scale)" if log else " (seconds)"))
    ax.set_ylabel("share of messages delivered")
    ax.set_ylim(0, 1.02)
    ax.grid(True, which="major", alpha=0.3)
    if tables:
        _run_legend(ax, len(tables), "lower right")
    ax.set_title(title or "Delivery latency: share of messages delivered within x")
    return figure


def latency_histogram(runs: Any, ax: Axes | None = None, log: bool = True, bins: int = 30,
                      title: str | None = None, figsize: tuple[float, float] | None = None) -> Figure:
    """Histogram of delivery latency on log-spaced bins; several runs as overlaid outlines."""
    figure, ax = _axes(ax, (8, 4.5), figsize)
    tables = _runs(runs)
    values = {label: t.latency.dropna().to_numpy() for label, t in tables.items()}
    everything = np.concatenate([v for v in values.values()] + [np.zeros(0)])
    if not len(everything):
        _no_data(ax, "no message was delivered")
        return figure
    low, high = max(float(everything.min()), 1e-4), max(float(everything.max()), 1e-3)
    edges = list(np.geomspace(low / 1.05, high * 1.05, bins + 1) if log else np.linspace(0, high * 1.02, bins + 1))
    for i, (label, latency) in enumerate(values.items()):
        colour = f"C{i}"
        name = f"{label}: {len(latency)} delivered" if label else f"{len(latency)} delivered"
        ax.hist(latency, bins=edges, histtype="stepfilled", alpha=0.25 if len(values) > 1 else 0.6, color=colour)
        ax.hist(latency, bins=edges, histtype="step", linewidth=1.8, color=colour, label=name)
    if log:
        _log_time_axis(ax, low, high)
    ax.set_xlabel("delivery latency" + (" (log scale)" if log else " (seconds)"))
    ax.set_ylabel("messages")
    ax.grid(True, axis="y", alpha=0.3)
    _run_legend(ax, len(values), "upper right")
    ax.set_title(title or "Delivery latency: how many messages took how long")
    return figure


def _run_legend(ax: Axes, runs: int, inside: Literal["lower right", "upper right"]) -> None:
    """One run: the legend inside the axes; several: below them, in two columns, clear of the curves."""
    if runs <= 1:
        ax.legend(loc=inside, fontsize=8)
        return
    _, labels = ax.get_legend_handles_labels()
    columns = 2 if max(len(label) for label in labels) <= 40 else 1
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=columns, fontsize=8, frameon=False)


def _duration(seconds: float) -> str:
    for size, name in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:.0f} {name}"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.3g} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


# --- retry timeline ------------------------------------------------------------------------------------------

def retry_timeline(
    lab: Any, ax: Axes | None = None, limit: int = 40, failures: pd.DataFrame | None = None, title: str | None = None,
    messages: Sequence[str] | None = None, select: str = "retried", figsize: tuple[float, float] | None = None,
) -> Figure:
    """One row per message: a thin line from creation to delivery or bounce; attempts of the origin host as
    ``|`` on the row, attempts of later hops (relays, backup MX) as small triangles just below it, both
    coloured by outcome; an attempt that made a duplicate copy as a star; failure windows shaded behind.
    Rows: the ``messages`` named, else at most ``limit`` messages in order of creation — with
    ``select="retried"`` (the default) those with a failed or repeated attempt (or not delivered) come
    first, with ``select="first"`` simply the first ones."""
    attempts, table = _table(lab, "attempts"), _table(lab, "messages")
    failures = failures if failures is not None else _optional_table(lab, "failures")
    shown = list(messages) if messages is not None else _select_messages(table, attempts, limit, select)
    row = {message: i for i, message in enumerate(shown)}
    end = _end_of([attempts.end.max() if len(attempts) else 0, table.delivered.max(), table.bounced.max()])
    unit, unit_name = time_unit(end)
    figure, ax = _axes(ax, (9, max(2.6, 0.27 * len(shown) + 1.6)), figsize)
    levels = _shade_failures(ax, failures, unit, end)
    per_message = table[table.message_id.isin(row)].groupby("message_id", sort=False)
    lives = per_message.agg(created=("created", "min"), origin=("origin", "first"), delivered=("delivered", "max"),
                            bounced=("bounced", "max"))
    _message_lines(ax, lives, row, unit, end)
    picked = attempts[attempts.message_id.isin(row)]
    origin = picked.message_id.map(lives.origin)
    _attempt_marks(ax, picked[picked.host == origin], row, unit, 0.0, "|", 110, "attempts-origin")
    _attempt_marks(ax, picked[picked.host != origin], row, unit, 0.32, "v", 22, "attempts-hop")
    duplicates = picked[picked.made_duplicate.astype(bool)] if "made_duplicate" in picked else picked.iloc[:0]
    ax.scatter(duplicates.start / unit, duplicates.message_id.map(row) - 0.3, s=70, marker="*", color="#d00000",
               zorder=5, gid="duplicates")
    ax.scatter(lives.delivered / unit, lives.index.map(row), s=60, marker="o", facecolors="none",
               edgecolors=OUTCOME_COLOURS["delivered"], linewidths=1.6, zorder=4, gid="delivered")
    ax.scatter(lives.bounced / unit, lives.index.map(row), s=60, marker="x", color=OUTCOME_COLOURS["bounced"],
               linewidths=2, zorder=4, gid="bounced")
    ax.set_yticks(range(len(shown)), [_short_id(m) for m in shown], fontsize=7)
    ax.set_ylim(len(shown) - 0.4, -0.6 - 0.5 * levels)  # room at the top for the failure names
    ax.set_xlim(0, end / unit * 1.02)
    ax.set_xlabel(f"simulated time ({unit_name})")
    total = table.message_id.nunique()
    which = " (retried ones first)" if messages is None and select == "retried" and len(shown) < total else ""
    ax.set_title(title or f"Retry timeline: {len(shown)} of {total} messages{which}")
    ax.grid(True, axis="x", alpha=0.3)
    present = {name for name, there in (("hop", (picked.host != origin).any()), ("duplicate", len(duplicates) > 0),
                                        ("delivered", lives.delivered.notna().any()),
                                        ("bounced", lives.bounced.notna().any())) if there}
    ax.legend(handles=_timeline_legend(set(picked.outcome), failures, present), loc="upper left",
              bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    return figure


def _select_messages(table: pd.DataFrame, attempts: pd.DataFrame, limit: int, select: str) -> list[str]:
    if select not in ("retried", "first"):
        raise ValueError(f"select must be 'retried' or 'first', got {select!r}")
    order = list(dict.fromkeys(table.message_id))
    if select == "first" or len(order) <= limit:
        return order[:limit]
    troubled = attempts[(attempts.attempt > 1) | (attempts.outcome != "delivered")].message_id
    eventful = set(troubled) | set(table[(table.status != "delivered") | (table.duplicates > 0)].message_id)
    picked = set([m for m in order if m in eventful][:limit])
    picked |= set([m for m in order if m not in picked][: limit - len(picked)])
    return [m for m in order if m in picked]


def _message_lines(ax: Axes, lives: pd.DataFrame, row: Mapping[str, int], unit: float, end: float) -> None:
    """A thin grey line per message from its creation to its delivery, bounce or the end of the run."""
    for message, life in lives.iterrows():
        stop = np.nanmax([life.delivered, life.bounced]) if life[["delivered", "bounced"]].notna().any() else end
        ax.plot([life.created / unit, stop / unit], [row[str(message)]] * 2, color="#ced4da", linewidth=1, zorder=1)


def _attempt_marks(ax: Axes, attempts: pd.DataFrame, row: Mapping[str, int], unit: float, offset: float,
                   marker: str, size: float, gid: str) -> None:
    colours = [OUTCOME_COLOURS.get(str(o), "#555555") for o in attempts.outcome]
    ax.scatter(attempts.start / unit, attempts.message_id.map(row) + offset, s=size, marker=marker, c=colours,
               linewidths=2 if marker == "|" else 0.5, zorder=3, gid=gid)


def _failure_windows(failures: pd.DataFrame | None, end: float) -> list[tuple[str, str, float, float]]:
    if failures is None or failures.empty:
        return []
    return [(str(f.kind), str(f.target), float(f.start), float(f.end) if pd.notna(f.end) else end)
            for f in failures.itertuples()]


def _shade_failures(ax: Axes, failures: pd.DataFrame | None, unit: float, end: float, label: bool = True) -> int:
    """Shade each failure window; name it at the top of the axes (when there are few enough to read).
    Returns how many lines of names were needed."""
    windows = _failure_windows(failures, end)
    placed: list[float] = []  # label starts so far; a label close to an earlier one goes a line lower
    for kind, target, start, stop in windows:
        ax.axvspan(start / unit, stop / unit, color=FAILURE_COLOURS.get(kind, "#d62828"), alpha=0.12, zorder=0,
                   linewidth=0)
        if label and len(windows) <= 6:
            level = sum(1 for other in placed if abs(other - start) < 0.3 * end)
            placed.append(start)
            where = offset_copy(ax.get_xaxis_transform(), _figure_of(ax), y=-2 - 9 * level, units="points")
            ax.text(start / unit, 1.0, f" {kind.replace('_', ' ')}: {target}", fontsize=7, va="top",
                    color=FAILURE_COLOURS.get(kind, "#9d0208"), transform=where, clip_on=True)
    return 1 + max((sum(1 for o in placed[:i] if abs(o - p) < 0.3 * end) for i, p in enumerate(placed)), default=-1)


def _outcome_order(outcome: str) -> int:
    order = list(OUTCOME_COLOURS)
    return order.index(outcome) if outcome in order else len(order)


def _timeline_legend(outcomes: set[str], failures: pd.DataFrame | None, present: set[str]) -> list[Any]:
    """Legend entries for what is drawn: ``present`` holds "hop", "delivered", "bounced", "duplicate"."""
    handles: list[Any] = [Line2D([], [], color="#555555", marker="|", linestyle="", markersize=10,
                                 markeredgewidth=2, label="attempt by the origin host")]
    if "hop" in present:
        handles.append(Line2D([], [], color="#555555", marker="v", linestyle="", markersize=5,
                              label="attempt by a later hop\n(relay, backup MX),\ndrawn below the row"))
    handles += [Patch(color=OUTCOME_COLOURS.get(o, "#555555"), label=OUTCOME_NOTES.get(o, o))
                for o in sorted(outcomes, key=_outcome_order)]
    if "delivered" in present:
        handles.append(Line2D([], [], marker="o", color=OUTCOME_COLOURS["delivered"], markerfacecolor="none",
                              linestyle="", label="delivered to the mailbox"))
    if "bounced" in present:
        handles.append(Line2D([], [], marker="x", color=OUTCOME_COLOURS["bounced"], linestyle="",
                              markeredgewidth=2, label="bounced (returned to sender)"))
    if "duplicate" in present:
        handles.append(Line2D([], [], marker="*", color="#d00000", linestyle="", markersize=9,
                              label="attempt that made a duplicate"))
    for kind in dict.fromkeys(k for k, *_ in _failure_windows(failures, 0.0)):
        handles.append(Patch(color=FAILURE_COLOURS.get(kind, "#d62828"), alpha=0.25,
                             label=f"failure window: {kind.replace('_', ' ')}"))
    return handles


# --- queues ----------------------------------------------------------------------------------------------------

def queue_length(lab: Any, ax: Axes | None = None, hosts: list[str] | None = None, title: str | None = None,
                 top: int = 8, figsize: tuple[float, float] | None = None) -> Figure:
    """Jobs queued (active + deferred, one job per message and next hop) per host over time, as steps;
    the ``top`` busiest hosts unless ``hosts`` names them; failure windows shaded. Given a mapping
    {label: Lab or queue table}, one line per run instead: its queues summed over ``hosts`` (default all)."""
    if isinstance(lab, Mapping):
        return _queue_totals(lab, ax, hosts, title, figsize)
    queue = _table(lab, "queue")
    figure, ax = _axes(ax, (8, 4.5), figsize)
    if queue.empty:
        _no_data(ax, "no queue activity")
        return figure
    end = float(queue.time.max())
    unit, unit_name = time_unit(end)
    _shade_failures(ax, _optional_table(lab, "failures"), unit, end)
    peaks = (queue.active + queue.deferred).groupby(queue.host).max().sort_values(ascending=False)
    busy = [str(h) for h, peak in peaks.items() if peak > 0]
    names = hosts or busy[:top]
    for host in names:
        rows = queue[queue.host == host]
        ax.step(rows.time / unit, rows.active + rows.deferred, where="post", label=host, linewidth=1.8)
    shown = "" if hosts or len(busy) <= top else f" ({top} busiest of {len(busy)} hosts)"
    _queue_axes(ax, unit_name, title or f"Queue length per host{shown}", bool(names))
    return figure


def _queue_axes(ax: Axes, unit_name: str, title: str, legend: bool) -> None:
    ax.set_xlabel(f"simulated time ({unit_name})")
    ax.set_ylabel("jobs queued (active + deferred)")
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    if legend:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)


def _total_queue(queue: pd.DataFrame, hosts: Sequence[str] | None) -> pd.Series:
    """Jobs queued over every host (or ``hosts``), by time: each host's last sample carried forward."""
    if hosts is not None:
        queue = queue[queue.host.isin(hosts)]
    if queue.empty:
        return pd.Series(dtype=float)
    counts = queue.assign(n=queue.active + queue.deferred)
    wide = counts.pivot_table(index="time", columns="host", values="n", aggfunc="last").ffill().fillna(0)
    return wide.sum(axis=1)


def _queue_totals(runs: Mapping[Any, Any], ax: Axes | None, hosts: Sequence[str] | None, title: str | None,
                  figsize: tuple[float, float] | None) -> Figure:
    figure, ax = _axes(ax, (8, 4.5), figsize)
    totals = {str(label): _total_queue(_table(run, "queue"), hosts) for label, run in runs.items()}
    end = max([float(t.index.max()) for t in totals.values() if len(t)] + [1.0])
    unit, unit_name = time_unit(end)
    for label, total in totals.items():
        ax.step(total.index / unit, total.to_numpy(), where="post", label=label, linewidth=1.8)
    where = f" on {', '.join(hosts)}" if hosts else ""
    _queue_axes(ax, unit_name, title or f"Jobs queued{where}, one line per run", bool(totals))
    return figure


@dataclass(frozen=True, slots=True)
class _Jobs:
    """Queue residence of every job (message, host, next hop): when it entered and left that host's queue."""

    frame: pd.DataFrame  # message_id, host, destination, enter, leave (inf: still queued)


def _jobs(lab: Any) -> _Jobs:
    attempts, table = _table(lab, "attempts"), _table(lab, "messages")
    if attempts.empty:
        return _Jobs(pd.DataFrame(columns=["message_id", "host", "destination", "enter", "leave"]))
    ordered = attempts.sort_values(["start", "end"], kind="stable")
    grouped = ordered.groupby(["message_id", "host", "destination"], sort=False)
    jobs = grouped.agg(enter=("start", "min"), last_end=("end", "max"), last=("outcome", "last")).reset_index()
    gone = table.groupby("message_id")[["bounced", "lost"]].min().min(axis=1)
    final = jobs["last"].isin(FINAL_OUTCOMES)
    given_up = jobs.message_id.map(gone)
    jobs["leave"] = np.where(final, jobs.last_end, np.where(given_up.notna(), given_up, np.inf))
    return _Jobs(jobs[["message_id", "host", "destination", "enter", "leave"]])


def qshape(lab: Any, at: float | None = None, hosts: Sequence[str] | None = None, by: str = "host") -> pd.DataFrame:
    """Postfix's qshape at time ``at`` (default: when most jobs were queued): one row per (host, destination)
    (``by="destination"``: per destination, summed over hosts) with the total ``T`` and the count of jobs per
    age bucket (minutes in that host's queue: 5, 10, 20, …, 1280, 1280+). Ages count from the job's first
    attempt on the host, i.e. from when it entered that host's queue."""
    if by not in ("host", "destination"):
        raise ValueError(f"by must be 'host' or 'destination', got {by!r}")
    jobs = _jobs(lab).frame
    if hosts is not None:
        jobs = jobs[jobs.host.isin(hosts)]
    when = _busiest_time(jobs) if at is None else float(at)
    queued = jobs[(jobs.enter <= when) & (jobs.leave > when)]
    columns = [str(b) for b in QSHAPE_BUCKETS] + [f"{QSHAPE_BUCKETS[-1]}+"]
    age = (when - queued.enter) / 60.0
    bucket = np.searchsorted(np.array(QSHAPE_BUCKETS, dtype=float), age.to_numpy(), side="left")
    keys = [queued.host, queued.destination] if by == "host" else [queued.destination]
    counts = pd.crosstab(keys, pd.Categorical([columns[b] for b in bucket],
                                                                            categories=columns), dropna=False)
    counts = counts.reindex(columns=columns, fill_value=0)
    counts = counts[counts.sum(axis=1) > 0] if len(counts) else counts
    counts.insert(0, "T", counts.sum(axis=1))
    counts = counts.sort_values("T", ascending=False)
    counts.attrs["at"] = when
    return counts


def _busiest_time(jobs: pd.DataFrame) -> float:
    """The time at which the most jobs were in queues (the first such time)."""
    if jobs.empty:
        return 0.0
    events = pd.concat([pd.DataFrame({"t": jobs.enter, "d": 1}),
                        pd.DataFrame({"t": jobs.leave[np.isfinite(jobs.leave)], "d": -1})])
    events = events.sort_values(["t", "d"], kind="stable")  # leaving before entering at the same instant
    level = events.d.cumsum().to_numpy()
    return float(events.t.to_numpy()[int(np.argmax(level))])


def queue_shape(lab: Any, at: float | None = None, ax: Axes | None = None, hosts: Sequence[str] | None = None,
                top: int = 10, by: str = "host", title: str | None = None,
                figsize: tuple[float, float] | None = None) -> Figure:
    """A heat map of ``qshape``: rows are (host -> destination), or destinations with ``by="destination"``,
    with their total; columns the age buckets; each cell says how many jobs of that age wait for that
    destination at time ``at`` (default: when most jobs were queued). The ``top`` fullest rows are shown."""
    shape = qshape(lab, at, hosts, by)
    when = float(shape.attrs["at"])
    rows = shape.head(top)
    figure, ax = _axes(ax, (8, max(2.4, 0.32 * len(rows) + 1.6)), figsize)
    title = title or f"Queue shape at t = {_clock(when)}: queued jobs by destination and age"
    ax.set_title(title, fontsize=10)
    if rows.empty:
        _no_data(ax, f"no job queued at t = {_clock(when)}")
        return figure
    counts = rows.drop(columns="T").to_numpy(dtype=float)
    image = ax.imshow(np.where(counts > 0, counts, np.nan), aspect="auto", cmap="YlOrRd", vmin=0,
                      vmax=max(1.0, float(counts.max())))
    for (i, j), count in np.ndenumerate(counts):
        if count:
            dark = count > 0.6 * counts.max()
            ax.text(j, i, f"{count:.0f}", ha="center", va="center", fontsize=8, color="white" if dark else "black")
    labels = [(" → ".join(key) if isinstance(key, tuple) else str(key)) + f"  (T={total})"
              for key, total in rows["T"].items()]
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.set_xticks(range(counts.shape[1]), list(rows.columns[1:]), fontsize=7)
    ax.set_xticks(np.arange(-0.5, counts.shape[1]), minor=True)
    ax.set_yticks(np.arange(-0.5, len(rows)), minor=True)
    ax.grid(True, which="minor", color="#dee2e6", linewidth=0.8)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("minutes in the host's queue (upper edge of each bucket, as in Postfix's qshape)", fontsize=9)
    more = f"; {len(shape) - top} more rows not shown" if len(shape) > top else ""
    figure.colorbar(image, ax=ax, label="jobs", shrink=0.9, pad=0.02)
    ax.set_ylabel(("host → destination" if by == "host" else "destination") + more, fontsize=8)
    return figure


def _clock(seconds: float) -> str:
    """Simulated time as h:mm:ss (or d h:mm for days)."""
    total = int(round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours}:{minutes:02d}"
    return f"{hours}:{minutes:02d}:{secs:02d}"


# --- topology --------------------------------------------------------------------------------------------------

def topology(lab: Any, at: float | None = None, ax: Axes | None = None, failures: pd.DataFrame | None = None,
             title: str | None = None, labels: bool | None = None, seed: int = 1,
             figsize: tuple[float, float] | None = None) -> Figure:
    """The lab's network drawn with networkx: hosts shaped and coloured by role, routers grey, links labelled
    with their one-way latency. At time ``at``, hosts and links that are down are greyed (dashed), and hosts
    that are up but unwilling (421/554 greeting, full disk) are ringed in orange. ``lab`` must be a Lab.
    Big networks (over 30 nodes) are drawn smaller, with only the routers named (``labels=True`` forces)."""
    network = getattr(lab, "network", None)
    if network is None or not hasattr(network, "graph"):
        raise TypeError(f"topology() needs a Lab (with a network), got {type(lab).__name__}")
    graph: nx.Graph = network.graph
    roles: Mapping[str, str] = getattr(lab, "roles", {}) or {}
    hosts = {getattr(h, "name", None) for h in getattr(network, "hosts", ())}
    kinds = {n: roles.get(n, "mx") if n in hosts or n in roles else "router" for n in graph.nodes}
    failures = failures if failures is not None else _optional_table(lab, "failures")
    down_nodes, degraded, down_links, notes = _state_at(lab, failures, at)
    big = graph.number_of_nodes() > 30
    labels = (not big) if labels is None else labels
    pos = _layout(graph, kinds, seed, big)
    figure, ax = _axes(ax, (10, 7) if big else (8, _layout_height(pos)), figsize)
    _draw_links(ax, graph, pos, down_links, labels)
    _draw_nodes(ax, graph, pos, kinds, down_nodes, degraded, big)
    if labels or big:
        _node_labels(ax, graph, pos, kinds, down_nodes, only_routers=not labels, big=big)
    _topology_legend(ax, kinds, down_nodes or down_links, degraded)
    when = "" if at is None else f" at t = {_clock(at)}"
    count = sum(k != "router" for k in kinds.values())
    links = graph.number_of_edges()
    ax.set_title(title or f"Topology{when}: {count} hosts, {links} link{'s' if links != 1 else ''}"
                 + (f"\n{'; '.join(notes)}" if notes else ""), fontsize=10)
    ax.set_axis_off()
    _frame_points(ax, pos)
    return figure


def _frame_points(ax: Axes, pos: Mapping[Any, Any]) -> None:
    """Limits around the drawing, never flat (a chain of hosts would otherwise fill the height)."""
    points = np.array(list(pos.values()), dtype=float).reshape(-1, 2)
    low, high = points.min(axis=0), points.max(axis=0)
    width = max(float(high[0] - low[0]), 1e-6)
    height = max(float(high[1] - low[1]), 0.3 * width)
    middle = (low + high) / 2
    ax.set_xlim(middle[0] - 0.62 * width, middle[0] + 0.62 * width)
    ax.set_ylim(middle[1] - 0.66 * height, middle[1] + 0.62 * height)


def _layout(graph: nx.Graph, kinds: Mapping[str, str], seed: int, big: bool) -> dict[Any, np.ndarray]:
    """Hubs and spokes: the backbone (nodes with more than one link) by a spring layout turned so its long
    axis runs left to right (senders on the left), and each hub's single-link hosts fanned out on an arc
    facing away from the rest of the backbone. Without a backbone, a plain spring layout."""
    backbone = graph.subgraph([n for n in graph.nodes if graph.degree(n) > 1])
    if backbone.number_of_nodes() == 0:
        return _turned(nx.spring_layout(graph, seed=seed, iterations=300), graph, kinds)
    k = 2.4 / math.sqrt(max(1, backbone.number_of_nodes()))
    pos = _turned(nx.spring_layout(backbone, seed=seed, k=k, iterations=300), graph, kinds)
    lengths = [float(np.linalg.norm(pos[a] - pos[b])) for a, b in backbone.edges]
    unit = float(np.median(lengths)) if lengths else 1.0
    for hub in backbone.nodes:
        leaves = [n for n in graph.neighbors(hub) if n not in backbone]
        if leaves:
            leaves.sort(key=lambda n: (list(ROLE_STYLES).index(kinds[n]), str(n)))
            _fan(pos, hub, leaves, [pos[n] for n in backbone.neighbors(hub)], unit)
    for node in graph.nodes:  # leftovers: pairs of single-link hosts linked to each other
        pos.setdefault(node, np.array([0.0, -unit]))
    return pos


def _turned(pos: Mapping[Any, Any], graph: nx.Graph, kinds: Mapping[str, str]) -> dict[Any, np.ndarray]:
    """Positions rotated onto their principal axes, mirrored so that senders sit left of MX hosts."""
    nodes = list(pos)
    points = np.array([pos[n] for n in nodes], dtype=float)
    points -= points.mean(axis=0)
    if len(nodes) > 1:
        _, _, axes = np.linalg.svd(points, full_matrices=False)
        points = points @ axes.T
        senders = [i for i, n in enumerate(nodes) if any(kinds[m] in ("client", "submission") for m in
                                                          [n, *graph.neighbors(n)])]
        receivers = [i for i, n in enumerate(nodes) if any(kinds[m] == "mx" for m in [n, *graph.neighbors(n)])
                     and i not in senders]
        if senders and receivers and points[senders, 0].mean() > points[receivers, 0].mean():
            points[:, 0] *= -1
    return {n: points[i] for i, n in enumerate(nodes)}


def _fan(pos: dict[Any, np.ndarray], hub: Any, leaves: list[Any], neighbours: list[np.ndarray], unit: float) -> None:
    """Spread ``leaves`` on an arc around ``hub``, centred away from its backbone ``neighbours``."""
    centre = pos[hub]
    away = -sum((np.asarray(n) - centre) / max(float(np.linalg.norm(np.asarray(n) - centre)), 1e-9)
                for n in neighbours) if neighbours else np.array([-1.0, 0.0])
    if float(np.linalg.norm(away)) < 1e-6:  # neighbours on both sides: fan out up and down
        first = np.asarray(neighbours[0]) - centre
        away = np.array([-first[1], first[0]])
    heading = math.atan2(float(away[1]), float(away[0]))
    count = len(leaves)
    radius = unit * ((0.5 + 0.012 * count) if count <= 12 or not neighbours else 0.42)
    if not neighbours:  # a lone hub: senders from the left, then clockwise over the top to the right
        for i, leaf in enumerate(leaves):
            angle = math.pi - 2 * math.pi * i / count
            pos[leaf] = centre + radius * np.array([math.cos(angle), math.sin(angle)])
        return
    arc = min(math.radians(280), math.radians(55) * count)
    for i, leaf in enumerate(leaves):
        angle = heading - (arc * (i / (count - 1) - 0.5) if count > 1 else 0.0)
        pos[leaf] = centre + radius * np.array([math.cos(angle), math.sin(angle)])


def _layout_height(pos: Mapping[Any, Any]) -> float:
    """A figure height (inches, for an 8-inch width) that suits the drawing's proportions."""
    points = np.array(list(pos.values()), dtype=float).reshape(-1, 2)
    span = points.max(axis=0) - points.min(axis=0)
    return float(min(3 + 0.15 * len(points), 6.0, max(6.5 * span[1] / max(float(span[0]), 1e-6) + 1.4,
                                                       2.6 + 0.15 * len(points))))


def _draw_nodes(ax: Axes, graph: nx.Graph, pos: Mapping[Any, Any], kinds: Mapping[str, str], down: set[str],
                degraded: set[str], big: bool) -> None:
    for role, (marker, colour, _name) in ROLE_STYLES.items():
        nodes = [n for n in graph.nodes if kinds[n] == role]
        if not nodes:
            continue
        colours = ["#e9ecef" if n in down else colour for n in nodes]
        edges = ["#e85d04" if n in degraded else "#6c757d" if n in down else "#343a40" for n in nodes]
        size = (90 if big else 260) if role == "router" else (120 if big else 480)
        drawn = nx.draw_networkx_nodes(graph, pos, nodelist=nodes, node_shape=marker, node_color=colours,
                                       edgecolors=edges, linewidths=[2.5 if n in degraded else 1.2 for n in nodes],
                                       node_size=size, ax=ax)
        drawn.set_gid(f"nodes-{role}")
        if any(n in down for n in nodes):
            drawn.set_linestyle([(0, (2, 2)) if n in down else "solid" for n in nodes])


def _state_at(lab: Any, failures: pd.DataFrame | None, at: float | None
              ) -> tuple[set[str], set[str], set[frozenset[str]], list[str]]:
    """Hosts down, hosts degraded, links down and other notes (DNS) at time ``at``."""
    down: set[str] = set()
    degraded: set[str] = set()
    links: set[frozenset[str]] = set()
    notes: list[str] = []
    greyed: list[str] = []
    if at is None or failures is None or failures.empty:
        return down, degraded, links, notes
    for kind, target, start, stop in _failure_windows(failures, math.inf):
        if not start <= at < stop:
            continue
        if kind == "partition":
            cut = _partition_links(lab, start)
            links |= cut
            greyed += [" - ".join(sorted(pair)) for pair in cut]
            notes.append("network partitioned")
        elif " - " in target:
            links.add(frozenset(target.split(" - ")))
            greyed.append(target)
        elif kind in HOST_DOWN_KINDS:
            down.add(target)
            greyed.insert(0, target)
        elif kind in HOST_DEGRADED_KINDS:
            degraded.add(target)
        elif kind == "dns":
            notes.append(f"DNS failing for {'every domain' if target == '*' else target}")
    if greyed or degraded:
        notes.insert(0, "greyed = down: " + ", ".join(greyed) if greyed else "orange ring = not willing")
    return down, degraded, links, notes


def _partition_links(lab: Any, start: float) -> set[frozenset[str]]:
    """The links a partition starting at ``start`` cuts (its groups are only in the lab's declarations)."""
    cut: set[frozenset[str]] = set()
    for failure in getattr(lab, "_failures", ()):
        if getattr(failure, "kind", "") != "partition" or float(failure.start) != start:
            continue
        side = {node: i for i, group in enumerate(failure.options.get("groups", [])) for node in group}
        for a, b in lab.network.graph.edges:
            if a in side and b in side and side[a] != side[b]:
                cut.add(frozenset((a, b)))
    return cut


def _draw_links(ax: Axes, graph: nx.Graph, pos: Mapping[Any, Any], down: set[frozenset[str]], labels: bool) -> None:
    up_edges = [e for e in graph.edges if frozenset(e) not in down]
    down_edges = [e for e in graph.edges if frozenset(e) in down]
    nx.draw_networkx_edges(graph, pos, edgelist=up_edges, width=1.6, edge_color="#495057", ax=ax)
    if down_edges:
        nx.draw_networkx_edges(graph, pos, edgelist=down_edges, width=1.6, edge_color="#ced4da", style="dashed", ax=ax)
    if labels:
        latency = {(a, b): _latency_label(data) for a, b, data in graph.edges(data=True)}
        nx.draw_networkx_edge_labels(graph, pos, edge_labels=latency, font_size=7, font_color="#495057", ax=ax,
                                     bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})


def _latency_label(data: Mapping[str, Any]) -> str:
    link = data.get("link")
    latency = getattr(link, "latency", data.get("latency"))
    if latency is None:
        return ""
    ms = float(latency) * 1000
    return f"{ms:.3g} ms"


def _node_labels(ax: Axes, graph: nx.Graph, pos: Mapping[Any, Any], kinds: Mapping[str, str], down: set[str],
                 only_routers: bool, big: bool) -> None:
    below = offset_copy(ax.transData, _figure_of(ax), y=-7 if big else -12, units="points")
    for node in graph.nodes:
        router = kinds[node] == "router"
        if only_routers and not router:
            continue
        x, y = pos[node]
        ax.text(x, y, str(node) + (" (down)" if node in down else ""), ha="center", va="top", transform=below,
                fontsize=7.5, style="italic" if router else "normal", color="#6c757d" if node in down else "#212529",
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7}, zorder=6)


def _topology_legend(ax: Axes, kinds: Mapping[str, str], any_down: Any, degraded: set[str]) -> None:
    present = [r for r in ROLE_STYLES if r in set(kinds.values())]
    handles: list[Any] = [Line2D([], [], marker=ROLE_STYLES[r][0], color="w", markerfacecolor=ROLE_STYLES[r][1],
                                 markeredgecolor="#343a40", markersize=9, label=ROLE_STYLES[r][2]) for r in present]
    if any_down:
        handles.append(Line2D([], [], marker="o", color="#ced4da", linestyle="--", markerfacecolor="#e9ecef",
                              markeredgecolor="#6c757d", markersize=9, label="down at this time"))
    if degraded:
        handles.append(Line2D([], [], marker="o", color="w", markerfacecolor="#ffffff", markeredgecolor="#e85d04",
                              markeredgewidth=2.5, markersize=9, label="up, not willing (421/554/452)"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)


# --- SMTP sequence diagram -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Arrow:
    sender: str  # "C" or "S"
    sent: float
    label: str
    kind: str  # "tcp" or "smtp"
    octets: int = 0


def sequence_diagram(lab: Any, connection: str | None = None, message: str | None = None, ax: Axes | None = None,
                     latency: float | None = None, title: str | None = None,
                     figsize: tuple[float, float] | None = None) -> Figure:
    """One SMTP connection as a message sequence chart: the client lane on the left, the server lane on
    the right, time flowing down. Each write is an arrow from its send time to its arrival (send time +
    one-way delay + transmission time), so the slope is the link delay; TCP's handshake (SYN, SYN-ACK, ACK)
    and closing FINs are dashed. ``connection`` names it (e.g. "c3"); else the first connection that carried
    ``message``, else the first with a transcript. The one-way delay is read from the handshake (sessions and
    connections tables) unless ``latency`` is given."""
    transcript = _table(lab, "transcript")
    conn = connection or _pick_connection(lab, message, transcript)
    lines = transcript[transcript.connection == conn]
    if lines.empty:
        raise ValueError(f"connection {conn!r} has no transcript lines (was the lab's transcript off?)")
    client, server, start = _endpoints(lab, conn, float(lines.time.min()))
    reset, reason = _reset(lab, conn)
    delay = latency if latency is not None else _one_way(lab, conn, start, client, server)
    bandwidth = _bandwidth(lab, client, server)
    arrows = _handshake(start, delay) + _smtp_arrows(lines) + _closing(lab, conn, lines)
    span = max(a.sent + delay for a in arrows) - start
    span = span if math.isinf(reset) else max(span, reset - start) * 1.06
    scale, unit = (1000.0, "ms") if span < 2 else (1.0, "s")
    figure, ax = _axes(ax, (8.5, max(4.0, 0.34 * len(arrows) + 1.5)), figsize)
    for arrow in arrows:
        _draw_arrow(ax, arrow, start, delay, bandwidth, scale, reset)
    _lanes(ax, client, server, span * scale)
    if math.isfinite(reset):
        ax.axhline((reset - start) * scale, color="#d00000", linestyle=":", linewidth=1.2)
        ax.text(-0.16, (reset - start) * scale, f" connection reset{': ' + reason if reason else ''}",
                color="#d00000", ha="left", va="top", fontsize=8)
    ax.set_ylabel(f"time since the client's connect ({unit})")
    rtt = 2 * delay * 1000
    ax.set_title(title or f"SMTP connection {conn}: {client} → {server}\none-way delay {delay * 1000:.3g} ms, "
                 f"so each command/reply round trip costs {rtt:.3g} ms", fontsize=10)
    return figure


def _pick_connection(lab: Any, message: str | None, transcript: pd.DataFrame) -> str:
    if message is not None:
        attempts = _table(lab, "attempts")
        carried = attempts[(attempts.message_id == message) & attempts.connection.notna()].connection
        known = [c for c in carried if c in set(transcript.connection)]
        if not known:
            raise ValueError(f"message {message!r}: no connection with a transcript carried it")
        return str(known[0])
    if transcript.empty:
        raise ValueError("the transcript is empty (run the lab with transcript commands or full)")
    return str(transcript.connection.iloc[0])


def _endpoints(lab: Any, conn: str, first_line: float) -> tuple[str, str, float]:
    """Client, server and connect time of a connection."""
    sessions, connections = _optional_table(lab, "sessions"), _optional_table(lab, "connections")
    session = sessions[sessions.connection == conn] if sessions is not None and len(sessions) else None
    if session is not None and len(session):
        first = session.iloc[0]
        return str(first.client), str(first.server), float(first.start)
    rows = connections[connections.connection == conn] if connections is not None and len(connections) else None
    if rows is not None and len(rows):
        opened = rows[rows.outcome == "opened"].time.min()
        return str(rows.iloc[0].src), str(rows.iloc[0].dst), float(opened) if pd.notna(opened) else first_line
    return "client", "server", first_line


def _reset(lab: Any, conn: str) -> tuple[float, str]:
    """When the connection was reset (infinity: it was not) and why."""
    connections = _optional_table(lab, "connections")
    if connections is None or connections.empty:
        return math.inf, ""
    rows = connections[(connections.connection == conn) & (connections.outcome == "reset")]
    if rows.empty:
        return math.inf, ""
    reason = rows.iloc[0].reason
    return float(rows.iloc[0].time), "" if pd.isna(reason) else str(reason)


def _one_way(lab: Any, conn: str, start: float, client: str, server: str) -> float:
    """The one-way delay: half the handshake's round trip (connect .. SYN-ACK), else the path latency."""
    connections = _optional_table(lab, "connections")
    if connections is not None:
        opened = connections[(connections.connection == conn) & (connections.outcome == "opened")].time
        if len(opened) and float(opened.iloc[0]) > start:
            return (float(opened.iloc[0]) - start) / 2
    network = getattr(lab, "network", None)
    if network is not None:
        try:
            path = nx.shortest_path(network.graph, client, server,
                                    weight=lambda u, v, d: float(d["link"].latency))
            return float(sum(network.graph.edges[u, v]["link"].latency for u, v in zip(path, path[1:], strict=False)))
        except (nx.NetworkXException, KeyError):
            pass
    return 0.0


def _bandwidth(lab: Any, client: str, server: str) -> float:
    """The bottleneck bandwidth (octets/s) of the path, or infinity when unknown."""
    network = getattr(lab, "network", None)
    try:
        value = network.bottleneck_bandwidth(client, server) if network is not None else None
    except Exception:  # a name the network does not know: the transmission time is then left out
        value = None
    return float(value) if value else math.inf


def _handshake(start: float, delay: float) -> list[_Arrow]:
    return [_Arrow("C", start, "SYN", "tcp"), _Arrow("S", start + delay, "SYN-ACK", "tcp"),
            _Arrow("C", start + 2 * delay, "ACK", "tcp")]


def _smtp_arrows(lines: pd.DataFrame) -> list[_Arrow]:
    """One arrow per write: consecutive lines of one side at the same instant (a multi-line reply, a
    pipelined group of commands, the message content) travel together."""
    arrows: list[_Arrow] = []
    group: list[str] = []
    key: tuple[float, str] | None = None
    for time, direction, line in zip(lines.time, lines.direction, lines.line.fillna(""), strict=False):
        if key is not None and (float(time), str(direction)) != key:
            arrows.append(_Arrow(key[1], key[0], _label(group), "smtp", sum(len(g) + 2 for g in group)))
            group = []
        key = (float(time), str(direction))
        group.append(str(line))
    if key is not None:
        arrows.append(_Arrow(key[1], key[0], _label(group), "smtp", sum(len(g) + 2 for g in group)))
    return arrows


_CONTENT_SUMMARY = re.compile(r"^<message content: (\d+) lines, (\d+) octets")


def _label(lines: list[str], width: int = 50) -> str:
    """What one write says, in one short line: a multi-line (EHLO) reply as its code and the keywords it
    offers, a pipelined group of commands or replies joined by " · " (shortened to verbs or codes when
    long), the message content as a count."""
    def cut(text: str) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"

    summary = _CONTENT_SUMMARY.match(lines[0]) if len(lines) == 1 else None
    if summary:
        return f"message content ({summary.group(1)} lines, {summary.group(2)} octets) + ."
    if len(lines) > 3 and lines[-1] == ".":
        return f"message content ({len(lines) - 1} lines) + ."
    if len(lines) == 1:
        return cut(lines[0][: width - 6]) + " + FIN" if lines[0].startswith("221 ") else cut(lines[0])
    if re.match(r"^\d{3}-", lines[0]) and not any(re.match(r"^\d{3} ", x) for x in lines[:-1]):
        return cut(lines[0][:3] + " " + " ".join(line[4:].split(" ")[0] for line in lines[1:]))
    joined = " · ".join(lines)
    if len(joined) <= width:
        return joined
    if re.match(r"^\d{3}", lines[0]):  # pipelined replies: their codes, then the last one in full
        return cut(" · ".join(line[:3] for line in lines[:-1]) + " · " + lines[-1])
    return cut(_verbs(lines) + " (pipelined)")


def _verbs(lines: list[str]) -> str:
    """``MAIL FROM · 3× RCPT TO · DATA`` for a pipelined group of commands."""
    verbs = [re.split(r"[:\s]", line.replace("MAIL FROM", "MAIL_FROM").replace("RCPT TO", "RCPT_TO"))[0]
             .replace("_", " ") for line in lines]
    runs: list[tuple[str, int]] = []
    for verb in verbs:
        if runs and runs[-1][0] == verb:
            runs[-1] = (verb, runs[-1][1] + 1)
        else:
            runs.append((verb, 1))
    return " · ".join(verb if n == 1 else f"{n}× {verb}" for verb, n in runs)


def _closing(lab: Any, conn: str, lines: pd.DataFrame) -> list[_Arrow]:
    """The client's FIN when the connection ends (the server's FIN rides behind its 221: see ``_label``)."""
    connections = _optional_table(lab, "connections")
    closed = connections[(connections.connection == conn) & (connections.outcome == "closed")].time \
        if connections is not None else pd.Series(dtype=float)
    arrows = []
    if len(closed):
        arrows.append(_Arrow("C", float(closed.iloc[0]), "FIN", "tcp"))
    return arrows


def _draw_arrow(ax: Axes, arrow: _Arrow, start: float, delay: float, bandwidth: float, scale: float,
                reset: float) -> None:
    x0, x1 = (0.0, 1.0) if arrow.sender == "C" else (1.0, 0.0)
    arrival = arrow.sent + delay + (arrow.octets / bandwidth if math.isfinite(bandwidth) else 0.0)
    lost = arrival > reset
    if lost:  # cut by the reset: the arrow stops where the data was when the connection died
        share = (reset - arrow.sent) / max(arrival - arrow.sent, 1e-12)
        x1, arrival = x0 + (x1 - x0) * max(0.0, min(1.0, share)), reset
    y0, y1 = (arrow.sent - start) * scale, (arrival - start) * scale
    tcp = arrow.kind == "tcp"
    colour = "#868e96" if tcp else ("#1d3557" if arrow.sender == "C" else "#2a9d8f")
    patch = FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-" if lost else "-|>", mutation_scale=12,
                            color="#d00000" if lost else colour, linewidth=1.0 if tcp else 1.5,
                            linestyle="--" if tcp else "-", shrinkA=0, shrinkB=0, zorder=3)
    patch.set_gid(f"arrow-{arrow.kind}")
    ax.add_patch(patch)
    if lost:
        ax.plot([x1], [y1], marker="x", color="#d00000", markersize=9, markeredgewidth=2, zorder=4)
    angle = math.degrees(math.atan2(y1 - y0, x1 - x0))  # in data space; drawn along the arrow on screen
    if abs(angle) > 90:
        angle -= math.copysign(180, angle)
    style: dict[str, Any] = {
        "ha": "center", "rotation": angle, "rotation_mode": "anchor", "transform_rotates_text": True,
        "fontsize": 7 if tcp else 7.5, "family": None if tcp else "monospace",
        "style": "italic" if tcp else "normal", "color": "#d00000" if lost else colour, "zorder": 5,
        "clip_on": True,
    }
    ax.text((x0 + x1) / 2, (y0 + y1) / 2, arrow.label, va="bottom",
            transform=offset_copy(ax.transData, _figure_of(ax), y=1.0, units="points"), **style)


def _lanes(ax: Axes, client: str, server: str, span: float) -> None:
    for x, name, role in ((0.0, client, "client"), (1.0, server, "server")):
        ax.axvline(x, color="#343a40", linewidth=2, zorder=1, gid="lane")
        ax.text(x, 1.0, f"{role}\n{name}", ha="center", va="top", fontsize=9, fontweight="bold",
                bbox={"boxstyle": "round,pad=0.3", "fc": "#f1f3f5", "ec": "#343a40"}, zorder=6,
                transform=ax.get_xaxis_transform())
    ax.set_xlim(-0.18, 1.18)
    ax.set_ylim(span * 1.03, -span * 0.16)
    ax.set_yticks([t for t in AutoLocator().tick_values(0, span) if 0 <= t <= span * 1.03])
    ax.set_xticks([])
    ax.grid(True, axis="y", alpha=0.25)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


# --- attempts and load -----------------------------------------------------------------------------------------

def attempts_per_message(runs: Any, ax: Axes | None = None, title: str | None = None,
                         figsize: tuple[float, float] | None = None) -> Figure:
    """How many delivery attempts messages needed (every hop counted, suspended ones not): bars per count,
    several runs side by side (as shares, so runs of different sizes compare)."""
    figure, ax = _axes(ax, (8, 4.0), figsize)
    tables = {label: t.drop_duplicates("message_id") for label, t in _runs(runs).items()}
    counts = {label: t.attempts.value_counts().sort_index() for label, t in tables.items()}
    top = int(max([int(c.index.max()) for c in counts.values() if len(c)] + [1]))
    share = len(tables) > 1
    width = 0.8 / max(1, len(tables))
    for i, (label, count) in enumerate(counts.items()):
        values = count.reindex(range(0, top + 1), fill_value=0)
        heights = 100 * values / max(1, values.sum()) if share else values
        mean = tables[label].attempts.mean()
        name = f"{label}: mean {mean:.2f}" if label else f"mean {mean:.2f} attempts per message"
        ax.bar(values.index + (i - (len(tables) - 1) / 2) * width, heights, width=width, label=name,
               color=f"C{i}", edgecolor="white")
    ax.set_xlabel("delivery attempts per message (every hop counted)")
    ax.set_ylabel("share of messages (%)" if share else "messages")
    ax.set_xticks(range(0, top + 1) if top <= 30 else np.linspace(0, top, 11).round())
    ax.set_xlim(0.4 if all((c.index > 0).all() for c in counts.values()) else -0.6, top + 0.6)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "Attempts per message")
    return figure


def offered_load(table: pd.DataFrame) -> float:
    """Messages per hour offered to the lab: messages created over the span of their creation times."""
    created = table.drop_duplicates("message_id").created
    if len(created) < 2:
        return float(len(created))
    span = float(created.max() - created.min())
    return 3600.0 * (len(created) - 1) / span if span > 0 else float(len(created))


def latency_vs_load(runs: Any, ax: Axes | None = None, percentiles: Sequence[float] = (50, 90, 99),
                    title: str | None = None, figsize: tuple[float, float] | None = None) -> Figure:
    """Delivery latency percentiles against offered load, one point per run. ``runs``: {load: Lab or
    table} with numeric keys (messages per hour), or any labels (the load is then measured from the
    messages' creation times); a list of runs works too."""
    figure, ax = _axes(ax, (8, 4.5), figsize)
    items = list(runs.items()) if isinstance(runs, Mapping) else [(None, r) for r in runs]
    points = []
    for key, run in items:
        table = _table(run, "messages")
        load = float(key) if isinstance(key, numbers.Real) else offered_load(table)
        latency = table.latency.dropna()
        points.append((load, [float(latency.quantile(p / 100)) if len(latency) else np.nan for p in percentiles]))
    points.sort(key=lambda p: p[0])
    loads = [p[0] for p in points]
    for i, q in enumerate(percentiles):
        ax.plot(loads, [p[1][i] for p in points], marker="o", linewidth=1.8, label=f"p{q:g}")
    values = [v for p in points for v in p[1] if not np.isnan(v)]
    if values:
        _log_time_axis(ax, min(values), max(values), axis="y")
    ax.set_xlabel("offered load (messages per hour)")
    ax.set_ylabel("delivery latency (log scale)")
    ax.grid(True, alpha=0.3)
    ax.legend(title="percentile", fontsize=8)
    ax.set_title(title or "Delivery latency versus offered load")
    return figure


# --- attempts over time, one message's path -------------------------------------------------------------------

def attempt_rate(lab: Any, ax: Axes | None = None, bin: float | None = None, title: str | None = None,
                 figsize: tuple[float, float] | None = None) -> Figure:
    """Delivery attempts per time bin (default: about 60 bins over the run), stacked by outcome, failure
    windows shaded: retry storms after an outage show as a wall of attempts when the host comes back."""
    attempts = _table(lab, "attempts")
    figure, ax = _axes(ax, (8, 3.8), figsize)
    if attempts.empty:
        _no_data(ax, "no delivery attempt")
        return figure
    end = _end_of([attempts.end.max()])
    unit, unit_name = time_unit(end)
    width = bin or _nice_bin(end / 60)
    edges = np.arange(0.0, end + width, width)
    _shade_failures(ax, _optional_table(lab, "failures"), unit, end)
    outcomes = sorted(set(attempts.outcome), key=_outcome_order)
    counts = [np.histogram(attempts[attempts.outcome == o].start, bins=edges)[0] for o in outcomes]
    steps = [np.append(c, c[-1]) for c in counts]  # the last bin needs its right edge to show as a step
    ax.stackplot(edges / unit, steps, step="post", colors=[OUTCOME_COLOURS.get(o, "#555555") for o in outcomes],
                 labels=outcomes)
    ax.set_xlim(0, edges[-1] / unit)
    ax.set_xlabel(f"simulated time ({unit_name})")
    ax.set_ylabel(f"attempts per {_duration(width)}")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right", framealpha=0.9)
    ax.set_title(title or f"Delivery attempts over time ({len(attempts)} in all)")
    return figure


def _nice_bin(seconds: float) -> float:
    for step in (1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400):
        if step >= seconds:
            return float(step)
    return 86400.0


def message_path(lab: Any, message: str, ax: Axes | None = None, title: str | None = None,
                 figsize: tuple[float, float] | None = None) -> Figure:
    """Where one message's time went: a bar per attempt (host → MX tried), from its start to its end,
    coloured by outcome and labelled with its duration; the gaps between bars are time spent queued. Times
    count from the message's creation; the dashed line marks the delivery into the (last) mailbox."""
    attempts, table = _table(lab, "attempts"), _table(lab, "messages")
    rows = attempts[attempts.message_id == message].sort_values(["start", "end"], kind="stable")
    life = table[table.message_id == message]
    if rows.empty or life.empty:
        raise ValueError(f"message {message!r}: no attempts recorded")
    created = float(life.created.min())
    done = _end_of([life.delivered.max(), life.bounced.max(), rows.end.max() - created + created]) - created
    scale, unit = (1000.0, "ms") if done < 2 else (1.0, "s") if done < 300 else (1 / 60, "min")
    figure, ax = _axes(ax, (8, 1.2 + 0.42 * len(rows)), figsize)
    labels = []
    for i, row in enumerate(rows.itertuples()):
        left, width = (row.start - created) * scale, max((row.end - row.start) * scale, 1e-9)
        ax.barh(i, width, left=left, height=0.6, color=OUTCOME_COLOURS.get(str(row.outcome), "#555555"))
        ax.text(left + width, i, f" {_duration(row.end - row.start)} {row.outcome}", va="center", fontsize=8)
        labels.append(f"{row.host} → {row.mx if isinstance(row.mx, str) else row.destination}")
    for stop, style in ((life.delivered.max(), "--"), (life.bounced.max(), ":")):
        if pd.notna(stop):
            ax.axvline((stop - created) * scale, color="#343a40", linestyle=style, linewidth=1)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, done * scale * 1.25)
    ax.set_xlabel(f"time since the message was written ({unit})")
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title(title or f"Path of {_short_id(message)}: one bar per attempt, the gaps are queueing", fontsize=10)
    return figure


# --- the standard set, as files --------------------------------------------------------------------------------

def standard_figures(results: Any, lab: Any = None, at: float | None = None,
                     connection: str | None = None) -> dict[str, Callable[[], Figure]]:
    """The figures that suit one run, by file name, each as a function drawing it: latency CDF and
    histogram, retry timeline, queue length and shape, attempts per message, the sequence diagram of one
    connection (when there is a transcript) and the topology (when ``lab`` — or ``results`` — is a Lab).
    ``results`` is a Lab or anything with its tables as attributes (``maillab.cli_plot.load_results``)."""
    lab = lab if lab is not None else (results if hasattr(results, "network") else None)
    makers: dict[str, Callable[[], Figure]] = {
        "latency_cdf.png": lambda: latency_cdf(results),
        "latency_histogram.png": lambda: latency_histogram(results),
        "retry_timeline.png": lambda: retry_timeline(results),
        "queue_length.png": lambda: queue_length(results),
        "queue_shape.png": lambda: queue_shape(results, at=at),
        "attempts_per_message.png": lambda: attempts_per_message(results),
    }
    transcript = _optional_table(results, "transcript")
    if connection is not None or (transcript is not None and len(transcript)):
        makers["sequence_diagram.png"] = lambda: sequence_diagram(results, connection=connection)
    if lab is not None:
        makers["topology.png"] = lambda: topology(lab, at=at, failures=_optional_table(results, "failures"))
    return makers


def write_figures(makers: Mapping[str, Callable[[], Figure]], out: Path, dpi: int = 110) -> list[Path]:
    """Draw each figure, save it as ``out/NAME`` and close it; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in makers.items():
        figure = make()
        try:
            figure.savefig(out / name, dpi=dpi)
        finally:
            plt.close(figure)
        paths.append(out / name)
    return paths
