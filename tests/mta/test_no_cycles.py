"""A run leaves no reference cycles behind: connections, sessions and their timers are freed by reference
counting as soon as they are done, so long runs do not pay for the cyclic garbage collector walking a
growing heap (measured: about a quarter of the wall time of a 30,000-message run before this held)."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from maillab import Lab
from tests.mta.scenarios import RECIPIENT, SENDER, two_hosts


@pytest.fixture
def saved_garbage() -> Iterator[list[object]]:
    """Objects the cyclic collector finds unreachable (kept, not freed, so the test can name them)."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def _cycles_after(scenario: Callable[[], Lab], garbage: list[object]) -> tuple[Lab, Counter[str]]:
    """Run the scenario twice and count the lab's own objects that the second run left in cycles (the
    first pays for one-time caches; libraries' lazily compiled helpers are not ours to judge)."""
    for _ in range(2):
        world = scenario()
        world.build()
        gc.collect()
        garbage.clear()
        world.run()
        gc.collect()
    ours = [item for item in garbage if type(item).__module__.split(".")[0] in ("maillab", "simpy")]
    return world, Counter(type(item).__qualname__ for item in ours)


def test_delivered_sessions_leave_no_cycles(make_lab: Callable[..., Lab], saved_garbage: list[object]) -> None:
    def scenario() -> Lab:
        world = two_hosts(make_lab)
        for k in range(20):
            world.send(k * 0.5, SENDER, RECIPIENT, size=500)
        return world

    world, cycles = _cycles_after(scenario, saved_garbage)
    assert len(world.recorder.delivered) == 20
    assert cycles == Counter()


def test_refused_and_reset_connections_leave_no_cycles(make_lab: Callable[..., Lab],
                                                        saved_garbage: list[object]) -> None:
    def scenario() -> Lab:
        world = two_hosts(make_lab, bandwidth=10_000)
        world.fail("mx.b.example", "refuse", start=0, end=60)
        world.fail("mx.b.example", "crash", start=400.1, end=401)
        for k in range(10):
            world.send(400 + k * 0.02, SENDER, RECIPIENT, size=20_000)
        world.send(0, SENDER, RECIPIENT, size=500)
        return world

    world, cycles = _cycles_after(scenario, saved_garbage)
    assert any(a.outcome == "refused" for a in world.recorder.attempts)
    assert any(c.outcome.value == "reset" for c in world.network.connection_log)
    assert cycles == Counter()
