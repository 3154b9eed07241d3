"""Small worlds for the scenario tests: a sender host and a destination host on one link."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from maillab import Lab

SENDER = "alice@a.example"
RECIPIENT = "bob@b.example"


def two_hosts(make_lab: Callable[..., Lab], latency: float = 0.005, sender: dict[str, Any] | None = None,
              receiver: dict[str, Any] | None = None, behaviours: tuple = (), bandwidth: float | None = None,
              users: tuple[str, ...] = ("bob",), **lab: Any) -> Lab:
    """out.a.example (alice) --link-- mx.b.example (bob): round trip r = 2 * latency."""
    world = make_lab(**lab)
    world.add_host("out.a.example", **(sender or {}))
    world.add_host("mx.b.example", behaviours=behaviours, **(receiver or {}))
    world.add_link("out.a.example", "mx.b.example", latency=latency, bandwidth=bandwidth)
    world.add_domain("a.example", mx="out.a.example", users=["alice"])
    world.add_domain("b.example", mx="mx.b.example", users=list(users))
    return world


def starts(lab: Lab, host: str = "out.a.example", destination: str = "b.example") -> list[float]:
    """Start times of the attempts (one per attempt, MX rows collapsed) made from ``host``."""
    rows = lab.attempts
    rows = rows[(rows.host == host) & (rows.destination == destination) & (rows.outcome != "suspended")]
    return [float(t) for t in rows.groupby(["message_id", "attempt"]).start.min().sort_values()]
