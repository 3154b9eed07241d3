"""A re-armable deadline for SimPy processes: one timer per session instead of one per reply.

Waiting for a reply "with a timeout" the obvious way (``yield receive | env.timeout(t)``) creates a timer
and a condition event on every wait; most timers never fire and still cost the event loop a push and a pop.
A ``Deadline`` keeps at most one live timer: moving the deadline only updates a number, and a timer that
fires before the current deadline re-arms for the rest. On expiry it calls ``on_expire`` (typically
``process.interrupt``), so the waiting process yields the receive event alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import simpy


class Deadline:
    """Calls ``on_expire`` once ``seconds`` have passed since the last ``arm(seconds)``, unless cancelled."""

    __slots__ = ("env", "at", "on_expire", "_armed_until")

    def __init__(self, env: simpy.Environment, on_expire: Callable[[], None]) -> None:
        self.env = env
        self.on_expire = on_expire
        self.at = math.inf
        self._armed_until = math.inf

    def arm(self, seconds: float) -> None:
        self.at = self.env.now + seconds
        if self._armed_until > self.at:
            self._start_timer(seconds)

    def cancel(self) -> None:
        self.at = math.inf

    def release(self) -> None:
        """Cancel for good and drop the callback, so an owner whose bound method it was is not kept in a
        reference cycle (freed by reference counting, not by the cyclic garbage collector)."""
        self.at = math.inf
        self.on_expire = _never_called

    def _start_timer(self, delay: float) -> None:
        self._armed_until = self.env.now + delay
        timer = self.env.timeout(delay)
        timer.callbacks.append(self._check)

    def _check(self, timer: simpy.Event) -> None:
        if self.env.now < self._armed_until:
            return  # superseded: a sooner timer was started since
        self._armed_until = math.inf
        if self.at == math.inf:
            return
        if self.env.now >= self.at:
            self.at = math.inf
            self.on_expire()
        else:
            self._start_timer(self.at - self.env.now)


def _never_called() -> None:  # pragma: no cover - a released deadline never expires
    raise AssertionError("a released Deadline expired")
