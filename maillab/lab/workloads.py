"""Workloads: the messages a lab file asks for, as (time, sender, recipients, size, subject) tuples.

Each workload draws from its own named random stream, so adding a workload does not change the
messages of the others. Arrival processes: Poisson (exponential gaps), bursts (evenly spread over ``over``),
a daily profile (a non-homogeneous Poisson process with a sinusoidal rate, by thinning), and explicit lists.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from maillab.quantities import parse_duration, parse_rate, parse_size

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class PlannedMessage:
    at: float
    sender: str
    recipients: tuple[str, ...]
    size: int
    subject: str
    via: str | None = None


class Traffic:
    """Who sends to whom, how big, how many recipients: the parts every generated workload shares."""

    def __init__(self, body: dict[str, Any], users: dict[str, list[str]], rng: random.Random) -> None:
        self.rng = rng
        self.senders = _weighted(body["from"])
        self.receivers = _weighted(body["to"])
        self.size = body.get("size", "2k")
        self.count = body.get("recipients", 1)
        self.subject = body.get("subject", "maillab test message")
        self.users = users

    def message(self, at: float) -> PlannedMessage:
        sender = self._address(self._pick(self.senders))
        count = self._count()
        recipients = tuple(dict.fromkeys(self._address(self._pick(self.receivers)) for _ in range(count)))
        return PlannedMessage(at, sender, recipients, self._size(), self.subject)

    def _pick(self, weighted: tuple[list[str], list[float]]) -> str:
        return self.rng.choices(weighted[0], weights=weighted[1])[0]

    def _address(self, peer: str) -> str:
        if "@" in peer:
            return peer
        users = self.users.get(peer) or ["user"]
        return f"{self.rng.choice(users)}@{peer}"

    def _size(self) -> int:
        spec = self.size
        if isinstance(spec, dict) and "lognormal" in spec:
            median, sigma = parse_size(spec["lognormal"]["median"]), float(spec["lognormal"]["sigma"])
            return max(1, int(self.rng.lognormvariate(math.log(max(median, 1)), sigma)))
        if isinstance(spec, dict) and "uniform" in spec:
            low, high = (parse_size(v) for v in spec["uniform"])
            return self.rng.randint(min(low, high), max(low, high))
        return parse_size(spec)

    def _count(self) -> int:
        if isinstance(self.count, dict):
            low, high = self.count["uniform"]
            return self.rng.randint(min(low, high), max(low, high))
        return int(self.count)


def _weighted(peers: Any) -> tuple[list[str], list[float]]:
    if isinstance(peers, dict):
        return list(peers), [float(w) for w in peers.values()]
    return list(peers), [1.0] * len(peers)


def plan(workloads: list[dict[str, Any]], users: dict[str, list[str]], duration: float,
         stream: Any) -> Iterator[PlannedMessage]:
    """Every message of every workload; ``stream(name)`` gives the named random stream."""
    for index, workload in enumerate(workloads):
        kind, body = next(iter(workload.items()))
        rng = stream(f"workload/{index}")
        if kind == "messages":
            yield from _explicit(body)
        elif kind == "poisson":
            yield from _poisson(body, Traffic(body, users, rng), duration, rng)
        elif kind == "burst":
            yield from _burst(body, Traffic(body, users, rng))
        else:
            yield from _daily(body, Traffic(body, users, rng), duration, rng)


def _explicit(body: list[dict[str, Any]]) -> Iterator[PlannedMessage]:
    for message in body:
        to = message["to"]
        yield PlannedMessage(parse_duration(message["at"]), message["from"], (to,) if isinstance(to, str) else
                             tuple(to), parse_size(message.get("size", 2000)),
                             message.get("subject", "maillab test message"), message.get("via"))


def _poisson(body: dict[str, Any], traffic: Traffic, duration: float, rng: random.Random) -> Iterator[PlannedMessage]:
    rate, t = parse_rate(body["rate"]), parse_duration(body.get("start", 0))
    end = parse_duration(body["end"]) if "end" in body else duration
    while True:
        t += rng.expovariate(rate)
        if t >= end:
            return
        yield traffic.message(t)


def _burst(body: dict[str, Any], traffic: Traffic) -> Iterator[PlannedMessage]:
    at, count, over = parse_duration(body["at"]), int(body["count"]), parse_duration(body.get("over", 0))
    for k in range(count):
        yield traffic.message(at + over * k / count)


def _daily(body: dict[str, Any], traffic: Traffic, duration: float, rng: random.Random) -> Iterator[PlannedMessage]:
    """Rate(t) = mean × (1 + amplitude × cos(2π (hour − peak_hour) / 24)), by thinning a Poisson process."""
    mean, amplitude = parse_rate(body["mean_rate"]), float(body.get("amplitude", 0.8))
    peak = float(body.get("peak_hour", 14.0)) * 3600.0
    t, end = parse_duration(body.get("start", 0)), parse_duration(body["end"]) if "end" in body else duration
    ceiling = mean * (1 + amplitude)
    while True:
        t += rng.expovariate(ceiling)
        if t >= end:
            return
        rate = mean * (1 + amplitude * math.cos(2 * math.pi * ((t - peak) % DAY) / DAY))
        if rng.random() * ceiling <= rate:
            yield traffic.message(t)
