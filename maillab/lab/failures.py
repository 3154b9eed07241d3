"""Scheduled failures: each a window [start, end) in which part of the world misbehaves.

    refuse       the host's smtpd is stopped: connections are refused (RST after one round trip)
    down         the host is down: packets are silently dropped, connects time out
    crash        the host crashes (open connections reset; the spool survives if durable), restarts at end
    link         the link between two nodes fails (target is a pair) and is restored at end
    dns          DNS lookups fail temporarily (target is a domain, or "*" for every lookup)
    flapping     a host (down/up) or a link (target a pair) alternates: up for Exp(mtbf), down for Exp(mttr)
    partition    every link between nodes of different ``groups`` fails (target: the groups)
    not_willing  the host greets with 421 (or ``code=554``) instead of 220
    disk_full    the host answers the final dot with 452 4.3.1

``end`` None means the failure lasts to the end of the run.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import simpy

from maillab.errors import ConfigError
from maillab.mta.behaviours import DiskFull, NotWilling
from maillab.quantities import parse_duration

if TYPE_CHECKING:
    from maillab.lab.lab import Lab
    from maillab.mta.mta import MTA

FAILURE_KINDS = ("refuse", "down", "crash", "link", "dns", "flapping", "partition", "not_willing", "disk_full")


@dataclass(frozen=True, slots=True)
class Failure:
    kind: str
    target: str | tuple[str, str]
    start: float
    end: float | None
    options: dict[str, Any] = field(default_factory=dict)


def failure_of(item: Mapping[str, Any]) -> Failure:
    """The Failure a lab file's ``failures:`` item describes (already checked by the loader's schema)."""
    kind = item["kind"]
    end = parse_duration(item["end"]) if item.get("end") is not None else None
    target: Any = item.get("host") or (tuple(item["between"]) if "between" in item else None)
    options: dict[str, Any] = {}
    if kind == "dns":
        target = item["domain"]
    elif kind == "flapping":
        options = {"mtbf": parse_duration(item["mtbf"]), "mttr": parse_duration(item["mttr"])}
    elif kind == "partition":
        target, options = "partition", {"groups": [list(g) for g in item["groups"]]}
    elif kind == "not_willing":
        options = {"code": int(item.get("code", 421))}
    return Failure(kind, target, parse_duration(item.get("start", 0)), end, options)


def switched_off(failure: Failure, links: Iterable[tuple[str, str]]) -> list[str]:
    """The hosts and links a failure takes out of service ("host NAME", "link A - B"): two failures that
    switch off one element cannot be active at once (who would switch it back on, and when?)."""
    target = failure.target
    if failure.kind in ("down", "refuse", "crash") or (failure.kind == "flapping" and isinstance(target, str)):
        return [f"host {target}"]
    if failure.kind in ("link", "flapping") and isinstance(target, tuple):
        return ["link " + " - ".join(sorted(target))]
    if failure.kind == "partition":
        groups = [set(group) for group in failure.options["groups"]]
        side = {name: index for index, group in enumerate(groups) for name in group}
        return ["link " + " - ".join(sorted((a, b))) for a, b in links
                if a in side and b in side and side[a] != side[b]]
    return []


def find_overlap(failures: Sequence[Failure], links: Iterable[tuple[str, str]]) -> tuple[int, int, str] | None:
    """The first failure (by index) that overlaps an earlier one on the same element: (index, earlier
    index, element), or None."""
    links = list(links)
    windows: dict[str, list[tuple[float, float, int]]] = {}
    for index, failure in enumerate(failures):
        end = failure.end if failure.end is not None else math.inf
        for element in switched_off(failure, links):
            for other_start, other_end, other in windows.get(element, []):
                if failure.start < other_end and other_start < end:
                    return index, other, element
            windows.setdefault(element, []).append((failure.start, end, index))
    return None


def schedule_failures(lab: Lab, failures: Sequence[Failure]) -> None:
    """Arrange for each failure to begin and end at its times in ``lab``'s world. At one instant, the
    windows that end are closed before those that begin are opened, whatever the order of declaration:
    "refuse until 100" then "crash from 100" stops and restarts the daemon before the host crashes."""
    switches: list[tuple[float, int, int, Callable[[], None]]] = []
    for index, failure in enumerate(failures):
        end = failure.end if failure.end is not None else math.inf
        if failure.kind == "dns":
            domain = None if failure.target == "*" else str(failure.target)
            lab.network.dns.outage(failure.start, end, domain)
        elif failure.kind in ("not_willing", "disk_full"):
            _add_behaviour(lab, failure, end)
        elif failure.kind == "flapping":
            flapper = _Flapper(lab, failure, *_actions(lab, failure))
            lab.env.process(flapper.run(lab.streams[f"flapping/{failure.target}/{failure.start}"]))
            if failure.end is not None:
                switches.append((failure.end, 0, index, flapper.stop))
        else:
            begin, finish = _actions(lab, failure)
            switches.append((failure.start, 1, index, begin))
            if failure.end is not None:
                switches.append((failure.end, 0, index, finish))
    for at, _, _, action in sorted(switches, key=lambda switch: switch[:3]):
        _at(lab.env, at, action)


def _at(env: simpy.Environment, at: float, action: Callable[[], None]) -> None:
    env.timeout(max(0.0, at - env.now)).callbacks.append(lambda _: action())


def _add_behaviour(lab: Lab, failure: Failure, end: float) -> None:
    mta = _mta(lab, failure)
    window = ((failure.start, end),)
    behaviour = NotWilling(window, int(failure.options.get("code", 421))) if failure.kind == "not_willing" \
        else DiskFull(window)
    mta.smtpd.behaviours = (behaviour, *mta.smtpd.behaviours)


def _mta(lab: Lab, failure: Failure) -> MTA:
    name = str(failure.target)
    if name not in lab.mtas:
        raise ConfigError(f"{failure.kind} failure: host {name!r} is not declared")
    return lab.mtas[name]


def _actions(lab: Lab, failure: Failure) -> tuple[Callable[[], None], Callable[[], None]]:
    if failure.kind == "partition":
        return _partition(lab, failure)
    if isinstance(failure.target, tuple):
        if len(failure.target) != 2:
            raise ConfigError(f"{failure.kind} failure: target must be a pair of node names, got {failure.target!r}")
        link = lab.network.link(*failure.target)
        return link.fail, link.restore
    mta = _mta(lab, failure)
    host = lab.network.host(mta.hostname)
    if failure.kind == "refuse":
        return mta.smtpd.stop, mta.smtpd.start
    if failure.kind in ("down", "flapping"):
        return host.down, host.up
    return host.crash, host.restart


def _partition(lab: Lab, failure: Failure) -> tuple[Callable[[], None], Callable[[], None]]:
    groups = [set(group) for group in failure.options["groups"]]

    def crosses(a: str, b: str) -> bool:
        side_a = next((i for i, g in enumerate(groups) if a in g), None)
        side_b = next((i for i, g in enumerate(groups) if b in g), None)
        return side_a is not None and side_b is not None and side_a != side_b

    links = [link for link in lab.network.links if crosses(_node_name(link.a), _node_name(link.b))]

    def begin() -> None:
        for link in links:
            link.fail()

    def finish() -> None:
        for link in links:
            link.restore()

    return begin, finish


def _node_name(node: Any) -> str:
    return str(getattr(node, "name", node))


class _Flapper:
    """Up for Exp(mtbf), down for Exp(mttr), from start to end; each down spell is recorded. A spell still
    running at ``end`` is ended by ``stop``, scheduled with the other windows' switches (so it is over
    before a failure starting at that instant begins)."""

    def __init__(self, lab: Lab, failure: Failure, begin: Callable[[], None], finish: Callable[[], None]) -> None:
        self.lab, self.failure, self.begin, self.finish = lab, failure, begin, finish
        self.end = failure.end if failure.end is not None else math.inf
        self.down_since: float | None = None

    def run(self, rng: random.Random) -> Generator[simpy.Event, Any, None]:
        env = self.lab.env
        mtbf, mttr = float(self.failure.options["mtbf"]), float(self.failure.options["mttr"])
        yield env.timeout(self.failure.start - env.now)
        while True:
            up_for = rng.expovariate(1 / mtbf)
            if env.now + up_for >= self.end:
                return
            yield env.timeout(up_for)
            self.begin()
            self.down_since = env.now
            down_for = rng.expovariate(1 / mttr)
            if env.now + down_for >= self.end:
                return  # stop() ends this spell at the window's end
            yield env.timeout(down_for)
            self._back_up()

    def stop(self) -> None:
        if self.down_since is not None:
            self._back_up()

    def _back_up(self) -> None:
        assert self.down_since is not None
        self.finish()
        self.lab.spells.append((self.failure.kind, self.failure.target, self.down_since, self.lab.env.now))
        self.down_since = None
