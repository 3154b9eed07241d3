"""What a finished run leaves behind: a summary table for people, and files for programs.

``summary_table`` formats ``lab.summary()``; ``write_results`` writes the result tables as CSV,
``summary.json``, every mailbox as Maildir folders, and (optionally) the standard plots as PNG.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from maillab.lab.lab import Lab

TABLES = ("messages", "attempts", "transcript", "queue", "sessions", "connections", "failures")


def format_duration(seconds: float) -> str:
    """``0.27 s``, ``12 min 5 s``, ``2 h 15 min``, ``5 d 0 h`` — as people read latencies."""
    if math.isnan(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.3g} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s"


def summary_table(lab: Lab) -> str:
    """The run's figures as an aligned two-column table."""
    s = lab.summary()
    total = int(s["messages"])

    def share(key: str) -> str:
        count = int(s[key])
        return f"{count} ({100 * count / total:.0f} %)" if total else str(count)

    rows = [
        ("messages (message x recipient)", str(total)),
        ("delivered", share("delivered")),
        ("bounced", share("bounced")),
        ("still queued", share("queued")),
        ("lost in crashes", share("lost")),
        ("duplicate copies", str(int(s["duplicates"]))),
        ("latency p50", format_duration(s["latency_p50"])),
        ("latency p90", format_duration(s["latency_p90"])),
        ("latency p99", format_duration(s["latency_p99"])),
        ("latency max", format_duration(s["latency_max"])),
        ("attempts per message", f"{s['attempts_per_message']:.2f}"),
        ("simulated time", format_duration(lab.now)),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)


def write_results(lab: Lab, out: Path, plots: bool = True) -> list[Path]:
    """Write tables, summary, mailboxes and plots under ``out``; returns what was written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in TABLES:
        path = out / f"{name}.csv"
        getattr(lab, name).to_csv(path, index=False)
        written.append(path)
    summary = out / "summary.json"
    summary.write_text(json.dumps({"seed": lab.seed, "now": lab.now, **lab.summary()}, indent=2) + "\n")
    written.append(summary)
    maildir = out / "maildir"
    for host, mta in sorted(lab.mtas.items()):
        mta.mailboxes.write_maildir(maildir / host)
    written.append(maildir)
    if plots:
        written += write_plots(lab, out)
    return written


def write_plots(lab: Lab, out: Path) -> list[Path]:
    """Every standard figure of a run, as PNG files in ``out``."""
    from maillab import plots

    return list(plots.write_figures(plots.standard_figures(lab), out, dpi=110))
