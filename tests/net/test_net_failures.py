"""Refusals, timeouts, resets from link failures, node failures, crashes, aborts and closed listeners."""

import random

import pytest
import simpy

from maillab.errors import ConfigError
from maillab.net import (
    ConnectionReset,
    ConnectRefused,
    ConnectTimeout,
    ConnOutcome,
    EndpointState,
    ListenerClosed,
    Network,
    NodeState,
)

L = 0.25
R = 2 * L


def world(*extra_hosts):
    env = simpy.Environment()
    net = Network(env, random.Random(11))
    a, b = net.add_host("a"), net.add_host("b")
    for name in extra_hosts:
        net.add_host(name)
    net.add_link(a, b, L)
    return env, net, a, b


def attempt(env, net, dst, outcome, timeout=30.0, src="a", port=25):
    """Run a connect and store (time, endpoint or exception type) in ``outcome``."""
    def run():
        try:
            ep = yield net.connect(src, dst, port, timeout)
            outcome.append((env.now, ep))
        except (ConnectRefused, ConnectTimeout) as exc:
            outcome.append((env.now, type(exc)))
    env.process(run())


def outcomes(net):
    return [(r.time, r.id, r.outcome) for r in net.connection_log]


def test_refused_after_one_round_trip_when_nothing_listens():
    env, net, a, b = world()
    result = []
    attempt(env, net, "b", result)
    env.run()
    assert result == [(R, ConnectRefused)]
    assert outcomes(net) == [(R, "c1", ConnOutcome.REFUSED)]


def test_closed_listener_refuses_and_fails_pending_accepts():
    env, net, a, b = world()
    listener = b.listen(25)
    failures = []

    def acceptor():
        with pytest.raises(ListenerClosed):
            yield listener.accept()
        failures.append(env.now)

    env.process(acceptor())
    env.run(until=1.0)
    listener.close()
    assert b.listener(25) is None and not listener.is_open
    result = []
    attempt(env, net, "b", result)
    env.run()
    assert failures == [1.0]
    assert result == [(1.0 + R, ConnectRefused)]
    b.listen(25)  # the port is free again


@pytest.mark.parametrize("breakage", ["host_down", "host_crashed", "link_down", "unknown_address", "no_link"])
def test_timeout_exactly_at_the_deadline_when_nothing_answers(breakage):
    env, net, a, b = world("c")
    b.listen(25)
    dst = {"unknown_address": "10.9.9.9", "no_link": "c"}.get(breakage, "b")
    if breakage == "host_down":
        b.down()
    elif breakage == "host_crashed":
        b.crash()
    elif breakage == "link_down":
        net.link("a", "b").fail()
    result = []
    attempt(env, net, dst, result, timeout=30.0)
    env.run()
    assert result == [(30.0, ConnectTimeout)]
    record = net.connection_log[-1]
    assert (record.time, record.outcome, record.dst) == (30.0, ConnOutcome.TIMED_OUT, dst)
    assert record.reason == {
        "host_down": "destination host b is down",
        "host_crashed": "destination host b is crashed",
        "link_down": "no route",
        "unknown_address": "no host has this address",
        "no_link": "no route",
    }[breakage]


def test_handshake_cut_in_flight_times_out_at_the_deadline():
    env, net, a, b = world()
    listener = b.listen(25)
    result = []
    attempt(env, net, "b", result, timeout=10.0)
    env.run(until=0.3)  # SYN arrived at 0.25, SYN-ACK in flight
    net.link("a", "b").fail()
    net.link("a", "b").restore()
    env.run()
    assert result == [(10.0, ConnectTimeout)]
    assert net.connection_log[-1].reason.startswith("path cut: link a<->b failed")
    assert a.connections == () and b.connections == () and listener.is_open


def test_link_failure_resets_both_sides_and_drops_data_in_flight():
    env, net, a, b = world()
    listener = b.listen(25)
    seen = []

    def server():
        ep = yield listener.accept()          # 0.75
        ep.send(b"250 ok")                    # would arrive at 1.0
        try:
            yield ep.recv()
        except ConnectionReset:
            seen.append(("server reset", env.now))
        with pytest.raises(ConnectionReset):
            ep.send(b"more")
        assert ep.state is EndpointState.RESET and not ep.is_open

    def client():
        ep = yield net.connect("a", "b", 25)
        try:
            yield ep.recv()
        except ConnectionReset as exc:
            seen.append(("client reset", env.now))
            assert "link a<->b failed" in str(exc)
        with pytest.raises(ConnectionReset):
            yield ep.recv()
        seen.append(("later recv fails", env.now))

    def failure():
        yield env.timeout(0.9)
        net.link("a", "b").fail()
        yield env.timeout(1.0)
        net.link("a", "b").restore()

    for gen in (server(), client(), failure()):
        env.process(gen)
    env.run()
    assert sorted(seen) == [("client reset", 0.9), ("later recv fails", 0.9), ("server reset", 0.9)]
    assert outcomes(net) == [(R, "c1", ConnOutcome.OPENED), (0.9, "c1", ConnOutcome.RESET)]
    assert a.connections == () and b.connections == ()


def test_unread_data_is_discarded_by_a_reset():
    env, net, a, b = world()
    listener = b.listen(25)
    ends = {}

    def server():
        ends["server"] = yield listener.accept()
        ends["server"].send(b"unread")

    def client():
        ends["client"] = yield net.connect("a", "b", 25)

    env.process(server())
    env.process(client())
    env.run(until=2.0)
    ends["client"].abort()
    with pytest.raises(ConnectionReset, match="aborted by a"):
        env.run(until=env.process(_recv(ends["client"])))
    with pytest.raises(ConnectionReset, match="aborted by a"):
        env.run(until=env.process(_recv(ends["server"])))


def _recv(ep):
    return (yield ep.recv())


def test_failure_off_the_path_leaves_connections_alone():
    env, net, a, b = world("c")
    net.add_link("b", "c", L)
    listener = b.listen(25)
    got = []

    def server():
        ep = yield listener.accept()
        yield env.timeout(1.0)
        ep.send(b"still here")

    def client():
        ep = yield net.connect("a", "b", 25)
        got.append((yield ep.recv()))

    env.process(server())
    env.process(client())
    env.run(until=1.0)
    net.link("b", "c").fail()
    net.host("c").crash()
    env.run()
    assert got == [b"still here"]


def test_router_down_resets_connections_through_it():
    env = simpy.Environment()
    net = Network(env, random.Random(1))
    net.add_host("a"), net.add_host("b"), net.add_router("r")
    net.add_link("a", "r", 0.125)
    net.add_link("r", "b", 0.125)
    net.host("b").listen(25)
    ends = []
    env.process(_connect_into(net, ends))
    env.run(until=1.0)
    net.node("r").down()
    assert ends[0].state is EndpointState.RESET
    assert net.connection_log[-1].reason == "node r down"


def _connect_into(net, ends):
    ends.append((yield net.connect("a", "b", 25)))


def test_host_crash_resets_connections_closes_listeners_and_runs_callbacks():
    env, net, a, b = world()
    listener = b.listen(25)
    calls, ends = [], {}
    b.on_crash(lambda host: calls.append(("crash", host.name, env.now)))
    b.on_restart(lambda host: calls.append(("restart", host.name, env.now)))

    def server():
        ends["server"] = yield listener.accept()

    env.process(server())
    env.process(_connect_into(net, ends.setdefault("clients", [])))
    env.run(until=2.0)
    b.crash()
    assert b.state is NodeState.CRASHED and not b.is_up
    assert ends["server"].state is EndpointState.RESET
    assert ends["clients"][0].state is EndpointState.RESET
    assert not listener.is_open and b.listening_ports == ()
    assert net.connection_log[-1].reason == "host b crashed"
    b.crash()  # idempotent
    result = []
    attempt(env, net, "b", result, timeout=5.0)
    env.run(until=10.0)
    b.restart()
    attempt(env, net, "b", result)  # nothing listens after a restart
    env.run()
    assert calls == [("crash", "b", 2.0), ("restart", "b", 10.0)]
    assert result == [(7.0, ConnectTimeout), (10.0 + R, ConnectRefused)]


def test_crash_of_the_client_host_resets_the_server_side_too():
    env, net, a, b = world()
    listener = b.listen(25)
    ends = {}

    def server():
        ends["server"] = ep = yield listener.accept()
        try:
            yield ep.recv()
        except ConnectionReset:
            ends["reset_at"] = env.now

    env.process(server())
    env.process(_connect_into(net, []))
    env.run(until=3.0)
    a.crash()
    env.run()
    assert ends["reset_at"] == 3.0


def test_host_down_resets_connections_but_keeps_listeners():
    env, net, a, b = world()
    listener = b.listen(25)
    ends = []
    env.process(_connect_into(net, ends))
    env.run(until=1.0)
    b.down()
    assert ends[0].state is EndpointState.RESET
    assert b.state is NodeState.DOWN and listener.is_open
    with pytest.raises(ConfigError, match="not crashed"):
        b.restart()
    b.up()
    result = []
    attempt(env, net, "b", result)
    env.run()
    assert result[0][0] == 1.0 + R and result[0][1].remote.host == "b"


def test_listener_closed_before_the_ack_resets_the_new_connection():
    env, net, a, b = world()
    listener = b.listen(25)
    ends = []
    env.process(_connect_into(net, ends))
    env.run(until=0.6)  # client has it (0.5), the ACK is in flight (arrives 0.75)
    listener.close()
    env.run()
    assert ends[0].state is EndpointState.RESET
    assert net.connection_log[-1].outcome is ConnOutcome.RESET


def test_listener_closed_with_unaccepted_connections_resets_them():
    env, net, a, b = world()
    listener = b.listen(25)
    ends = []
    env.process(_connect_into(net, ends))
    env.run(until=1.0)  # accepted by TCP at 0.75, never by the application
    listener.close()
    assert ends[0].state is EndpointState.RESET


def test_an_interrupted_reader_does_not_break_the_run_when_its_connection_resets():
    env, net, a, b = world()
    b.listen(25)
    ends = []

    def reader():
        ep = yield net.connect("a", "b", 25)
        ends.append(ep)
        try:
            yield ep.recv()
        except simpy.Interrupt:
            pass

    proc = env.process(reader())
    env.run(until=1.0)
    proc.interrupt("crash")
    env.run(until=2.0)
    net.link("a", "b").fail()
    env.run()
    assert ends[0].state is EndpointState.RESET
