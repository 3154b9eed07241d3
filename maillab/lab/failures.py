"""Scheduled failures: each a window [start, end) in which part of the world misbehaves.

    refuse  the host's smtpd is stopped: connections are refused (RST after one round trip)
    down    the host is down: packets are silently dropped, connects time out
    crash   the host crashes (open connections reset; the spool survives if durable) and restarts at end
    link    the link between two nodes fails (target is a pair) and is restored at end
    dns     DNS lookups fail temporarily (target is a domain, or "*" for every lookup)

``end`` None means the failure lasts to the end of the run.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import simpy

from maillab.errors import ConfigError

if TYPE_CHECKING:
    from maillab.lab.lab import Lab

FAILURE_KINDS = ("refuse", "down", "crash", "link", "dns")


@dataclass(frozen=True, slots=True)
class Failure:
    kind: str
    target: str | tuple[str, str]
    start: float
    end: float | None
    options: dict[str, Any] = field(default_factory=dict)


def schedule_failure(lab: Lab, failure: Failure) -> None:
    """Arrange for ``failure`` to begin and end at its times in ``lab``'s world."""
    if failure.kind == "dns":
        domain = None if failure.target == "*" else str(failure.target)
        lab.network.dns.outage(failure.start, failure.end if failure.end is not None else float("inf"), domain)
        return
    begin, finish = _actions(lab, failure)
    lab.env.process(_window(lab.env, failure, begin, finish))


def _actions(lab: Lab, failure: Failure) -> tuple[Callable[[], None], Callable[[], None]]:
    if failure.kind == "link":
        if not isinstance(failure.target, tuple) or len(failure.target) != 2:
            raise ConfigError(f"link failure: target must be a pair of node names, got {failure.target!r}")
        link = lab.network.link(*failure.target)
        return link.fail, link.restore
    name = str(failure.target)
    if name not in lab.mtas:
        raise ConfigError(f"{failure.kind} failure: host {name!r} is not declared")
    host, mta = lab.network.host(name), lab.mtas[name]
    if failure.kind == "refuse":
        return mta.smtpd.stop, mta.smtpd.start
    if failure.kind == "down":
        return host.down, host.up
    return host.crash, host.restart


def _window(env: simpy.Environment, failure: Failure, begin: Callable[[], None],
            finish: Callable[[], None]) -> Generator[simpy.Event, Any, None]:
    yield env.timeout(failure.start - env.now)
    begin()
    if failure.end is not None:
        yield env.timeout(failure.end - env.now)
        finish()
