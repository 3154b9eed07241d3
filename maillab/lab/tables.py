"""Result tables of a lab run: tidy pandas DataFrames, one row per event, with the run's seed.

    messages     one row per injected message and recipient: created, delivered, bounced, latency,
                 attempts, status (delivered | bounced | lost | queued), duplicates, hops
    attempts     one row per delivery attempt per MX host tried
    transcript   every SMTP line with time, connection and direction
    queue        queue length per host over time (active and deferred jobs)
    connections  every TCP connection event of the network
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from maillab.errors import MaillabError

if TYPE_CHECKING:
    from maillab.lab.lab import Lab

MESSAGE_COLUMNS = ["seed", "message_id", "sender", "recipient", "origin", "size", "created", "delivered",
                   "bounced", "lost", "latency", "attempts", "status", "duplicates", "hops", "bounce_status"]


class ConservationError(MaillabError):
    """A message vanished: neither delivered, bounced, lost in a recorded crash, nor still queued."""


def _frame(records: list[Any], seed: int, columns: list[str] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame([asdict(r) for r in records]) if records else pd.DataFrame(columns=columns or [])
    frame.insert(0, "seed", seed)
    return frame


def attempts(lab: Lab) -> pd.DataFrame:
    """One row per attempt and MX host; ``made_duplicate`` marks an attempt that delivered a second copy of
    its message (RFC 1047: the first copy's 250 was lost), not the other messages its connection carried."""
    columns = ["message_id", "host", "destination", "attempt", "mx", "start", "end", "outcome", "code", "enhanced",
               "text", "recipients", "connection", "duplicate_risk"]
    frame = _frame(lab.recorder.attempts, lab.seed, columns)
    duplicates = _duplicate_deliveries(lab)
    frame["made_duplicate"] = [(message, connection) in duplicates
                               for message, connection in zip(frame.message_id, frame.connection, strict=True)]
    return frame


def _duplicate_deliveries(lab: Lab) -> set[tuple[str, str]]:
    """(message, connection) of each copy that arrived when its message and recipient already had one."""
    seen: set[tuple[str, str]] = set()
    duplicates: set[tuple[str, str]] = set()
    for copy in lab.recorder.delivered:
        key = (copy.message_id, copy.recipient)
        if key in seen and copy.connection is not None:
            duplicates.add((copy.message_id, copy.connection))
        seen.add(key)
    return duplicates


def sessions(lab: Lab) -> pd.DataFrame:
    return _frame(lab.recorder.sessions, lab.seed, ["connection", "client", "server", "start", "end",
                                                    "transactions", "outcome"])


def transcript(lab: Lab) -> pd.DataFrame:
    return _frame(lab.recorder.transcript, lab.seed, ["time", "connection", "direction", "line"])


def queue(lab: Lab) -> pd.DataFrame:
    return _frame(lab.recorder.queue, lab.seed, ["time", "host", "active", "deferred"])


def connections(lab: Lab) -> pd.DataFrame:
    rows = [{"time": r.time, "connection": r.id, "src": str(r.src), "dst": str(r.dst), "port": r.port,
             "outcome": r.outcome.value, "reason": r.reason} for r in lab.network.connection_log]
    frame = pd.DataFrame(rows, columns=["time", "connection", "src", "dst", "port", "outcome", "reason"])
    frame.insert(0, "seed", lab.seed)
    return frame


def failures(lab: Lab) -> pd.DataFrame:
    """The scheduled failures: kind, target, start, end (NaN: to the end of the run)."""
    declared = [(f.kind, f.target, f.start, f.end) for f in lab._failures if f.kind != "flapping"]
    rows = [{"kind": kind, "target": _target_name(target), "start": start, "end": np.nan if end is None else end}
            for kind, target, start, end in [*declared, *lab.spells]]
    return pd.DataFrame(rows, columns=["kind", "target", "start", "end"]).sort_values("start", ignore_index=True)


def _target_name(target: Any) -> str:
    if isinstance(target, str):
        return target
    if target and all(isinstance(part, str) for part in target):
        return " - ".join(target)
    return "partition"


def _still_queued(lab: Lab) -> set[tuple[str, str]]:
    return {(job.message_id, rcpt) for mta in lab.mtas.values() for job in mta.queue.jobs() for rcpt in job.recipients}


def messages(lab: Lab) -> pd.DataFrame:
    """One row per injected message and recipient."""
    rec = lab.recorder
    delivered: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for d in rec.delivered:
        delivered[(d.message_id, d.recipient)].append(d)
    bounced = {(b.message_id, b.recipient): b for b in rec.bounced}
    lost = {(x.message_id, x.recipient): x for x in rec.lost}
    tries = Counter(message for message, _host, _dest, _n in {(a.message_id, a.host, a.destination, a.attempt)
                                                              for a in rec.attempts if a.outcome != "suspended"})
    queued = _still_queued(lab)
    rows = []
    for inj in rec.injected:
        for rcpt in inj.recipients:
            key = (inj.message_id, rcpt)
            copies, bounce, loss = delivered.get(key, []), bounced.get(key), lost.get(key)
            first = copies[0].time if copies else np.nan
            status = "delivered" if copies else "bounced" if bounce else "lost" if loss else \
                "queued" if key in queued else "vanished"
            rows.append([lab.seed, inj.message_id, inj.sender, rcpt, inj.host, inj.size, inj.time, first,
                         bounce.time if bounce else np.nan, loss.time if loss else np.nan,
                         first - inj.time if copies else np.nan, tries.get(inj.message_id, 0), status,
                         max(0, len(copies) - 1), copies[0].hops if copies else np.nan,
                         bounce.status if bounce else None])
    return pd.DataFrame(rows, columns=MESSAGE_COLUMNS)


def check_conservation(lab: Lab) -> None:
    table = messages(lab)
    vanished = table[table.status == "vanished"]
    if len(vanished):
        sample = ", ".join(f"{m} -> {r}" for m, r in zip(vanished.message_id[:5], vanished.recipient[:5], strict=False))
        raise ConservationError(f"{len(vanished)} message-recipient(s) vanished at t={lab.now}: {sample}")


def summary(lab: Lab) -> dict[str, float]:
    """The figures the command line prints: counts, latency percentiles, attempts per message (messages
    created during the warm-up are left out)."""
    table = messages(lab)
    table = table[table.created >= lab.warmup]
    latency = table.latency.dropna()
    counts = table.status.value_counts()
    return {
        "messages": float(len(table)),
        "delivered": float(counts.get("delivered", 0)),
        "bounced": float(counts.get("bounced", 0)),
        "queued": float(counts.get("queued", 0)),
        "lost": float(counts.get("lost", 0)),
        "duplicates": float(table.duplicates.sum()),
        "latency_p50": float(latency.quantile(0.5)) if len(latency) else float("nan"),
        "latency_p90": float(latency.quantile(0.9)) if len(latency) else float("nan"),
        "latency_p99": float(latency.quantile(0.99)) if len(latency) else float("nan"),
        "latency_max": float(latency.max()) if len(latency) else float("nan"),
        "attempts_per_message": float(table.attempts.mean()) if len(table) else float("nan"),
    }
