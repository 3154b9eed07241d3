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


def test_a_run_raises_the_young_threshold_only_while_it_runs(make_lab: Callable[..., Lab]) -> None:
    from maillab.lab.lab import RUN_GC_THRESHOLD

    seen: list[int] = []
    world = two_hosts(make_lab)
    world.send(0, SENDER, RECIPIENT)
    world.build()
    world.env.process(_note_threshold(world, seen))
    before = gc.get_threshold()
    world.run(until=10)
    assert seen == [RUN_GC_THRESHOLD] and gc.get_threshold() == before


def test_the_threshold_is_restored_when_a_run_fails(make_lab: Callable[..., Lab]) -> None:
    world = two_hosts(make_lab)
    world.build()

    def boom() -> Iterator[object]:
        yield world.env.timeout(1)
        raise RuntimeError("a callback failed")

    world.env.process(boom())
    before = gc.get_threshold()
    with pytest.raises(RuntimeError):
        world.run(until=10)
    assert gc.get_threshold() == before


def _note_threshold(world: Lab, seen: list[int]) -> Iterator[object]:
    yield world.env.timeout(1)
    seen.append(gc.get_threshold()[0])


def test_a_run_leaves_switched_off_collection_switched_off(make_lab: Callable[..., Lab]) -> None:
    seen: list[int] = []
    world = two_hosts(make_lab)
    world.build()
    world.env.process(_note_threshold(world, seen))
    before = gc.get_threshold()
    gc.set_threshold(0, *before[1:])
    try:
        world.run(until=10)
    finally:
        gc.set_threshold(*before)
    assert seen == [0]
