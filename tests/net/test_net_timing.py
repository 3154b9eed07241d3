"""Handshake and stream timing, exact (REFERENCE.md §7 case 1). L = 0.25 s one way, r = 0.5 s."""

import random

import pytest
import simpy

from maillab.net import ConnOutcome, EndpointClosed, EndpointState, Network, Peer

L = 0.25
R = 2 * L


def world(latency=L):
    env = simpy.Environment()
    net = Network(env, random.Random(7))
    a, b = net.add_host("a"), net.add_host("b")
    net.add_link(a, b, latency)
    return env, net, a, b


def echo_server(env, listener, seen, greet=b"220 hello\r\n"):
    """Accept one connection, greet on accept, answer each chunk, close on FIN."""
    ep = yield listener.accept()
    seen["accept"] = env.now
    ep.send(greet)
    while (chunk := (yield ep.recv())) != b"":
        ep.send(b"ok " + chunk)
    seen["server_saw_fin"] = env.now
    ep.close()


def test_connect_returns_at_one_round_trip_and_accept_at_one_and_a_half():
    env, net, a, b = world()
    seen = {}
    env.process(echo_server(env, b.listen(25), seen))

    def client():
        yield net.connect(a, "b", 25)
        seen["connect"] = env.now

    env.process(client())
    env.run()
    assert seen["connect"] == R
    assert seen["accept"] == 1.5 * R


def test_greeting_at_two_round_trips_then_one_round_trip_per_command():
    """Worked case 1 without PIPELINING: greeting at 2r, then EHLO MAIL RCPT DATA dot QUIT: 8r."""
    env, net, a, b = world()
    seen, times = {}, []
    env.process(echo_server(env, b.listen(25), seen))

    def client():
        ep = yield net.connect(a, b, 25)
        assert (yield ep.recv()) == b"220 hello\r\n"
        times.append(env.now)
        for command in (b"EHLO", b"MAIL", b"RCPT", b"DATA", b"body.", b"QUIT"):
            ep.send(command)
            assert (yield ep.recv()) == b"ok " + command
            times.append(env.now)

    env.process(client())
    env.run()
    assert times == [k * R for k in range(2, 9)]


def test_client_data_sent_at_connect_arrives_with_the_ack_and_waits_for_accept():
    env, net, a, b = world()
    listener = b.listen(25)
    got = []

    def client():
        ep = yield net.connect(a, b, 25)
        ep.send(b"early")

    def late_server():
        yield env.timeout(5.0)
        ep = yield listener.accept()
        chunk = yield ep.recv()
        got.append((env.now, chunk))

    env.process(client())
    env.process(late_server())
    env.run()
    assert got == [(5.0, b"early")]


def test_chunks_arrive_in_order_exactly_as_sent():
    env, net, a, b = world()
    listener = b.listen(25)
    got = []

    def client():
        ep = yield net.connect(a, b, 25)
        for chunk in (b"one", b"two", b"three"):
            ep.send(chunk)
        ep.close()

    def server():
        ep = yield listener.accept()
        while (chunk := (yield ep.recv())) != b"":
            got.append((env.now, chunk))
        got.append((env.now, b"FIN"))

    env.process(client())
    env.process(server())
    env.run()
    assert got == [(1.5 * R, b"one"), (1.5 * R, b"two"), (1.5 * R, b"three"), (1.5 * R, b"FIN")]


def test_fin_reaches_peer_after_path_latency_and_keeps_yielding_empty():
    env, net, a, b = world()
    listener = b.listen(25)
    got = []

    def client():
        ep = yield net.connect(a, b, 25)
        yield env.timeout(1.0)
        ep.close()
        assert ep.state is EndpointState.CLOSED and not ep.is_open

    def server():
        ep = yield listener.accept()
        for _ in range(2):
            chunk = yield ep.recv()
            got.append((env.now, chunk))
        assert ep.peer_closed
        ep.send(b"half-close still allows sending")
        ep.close()

    env.process(client())
    env.process(server())
    env.run()
    assert got == [(R + 1.0 + L, b""), (R + 1.0 + L, b"")]
    assert [(r.time, r.outcome) for r in net.connection_log] == [
        (R, ConnOutcome.OPENED),
        (R + 1.0 + L, ConnOutcome.CLOSED),
    ]


def test_closed_side_still_receives_until_peer_fin():
    env, net, a, b = world()
    listener = b.listen(25)
    got = []

    def client():
        ep = yield net.connect(a, b, 25)
        ep.send(b"QUIT")
        ep.close()
        for _ in range(2):
            chunk = yield ep.recv()
            got.append((env.now, chunk))

    def server():
        ep = yield listener.accept()
        assert (yield ep.recv()) == b"QUIT"
        ep.send(b"221 bye")
        ep.close()

    env.process(client())
    env.process(server())
    env.run()
    assert got == [(2 * R, b"221 bye"), (2 * R, b"")]


def test_send_after_close_raises_and_close_is_idempotent():
    env, net, a, b = world()
    b.listen(25)
    errors = []

    def client():
        ep = yield net.connect(a, b, 25)
        ep.close()
        ep.close()
        with pytest.raises(EndpointClosed, match="send\\(\\) after close\\(\\)"):
            ep.send(b"x")
        with pytest.raises(TypeError):
            ep.send("text")
        errors.append(True)

    env.process(client())
    env.run()
    assert errors == [True]


def test_empty_send_sends_nothing():
    env, net, a, b = world()
    listener = b.listen(25)
    got = []

    def client():
        ep = yield net.connect(a, b, 25)
        ep.send(b"")
        ep.send(b"x")

    def server():
        ep = yield listener.accept()
        got.append((yield ep.recv()))

    env.process(client())
    env.process(server())
    env.run()
    assert got == [b"x"]


def test_connection_ids_are_deterministic_and_endpoints_know_both_ends():
    env, net, a, b = world()
    listener = b.listen(25)
    ends = []

    def client():
        for _ in range(3):
            ep = yield net.connect(a, b, 25)
            server = yield listener.accept()
            ends.append((ep, server))

    env.process(client())
    env.run()
    assert [ep.id for ep, _ in ends] == ["c1", "c2", "c3"]
    client_ep, server_ep = ends[0]
    assert server_ep.id == "c1"
    assert client_ep.local == Peer("a", "10.0.0.1", 49152) == server_ep.remote
    assert client_ep.remote == Peer("b", "10.0.0.2", 25) == server_ep.local
    assert ends[1][0].local.port == 49153


def test_hosts_track_their_open_endpoints():
    env, net, a, b = world()
    listener = b.listen(25)
    snapshots = []

    def client():
        ep = yield net.connect(a, b, 25)
        snapshots.append((env.now, len(a.connections), len(b.connections)))
        server = yield listener.accept()
        snapshots.append((env.now, len(a.connections), len(b.connections)))
        ep.close()
        server.close()
        snapshots.append((env.now, len(a.connections), len(b.connections)))

    env.process(client())
    env.run()
    assert snapshots == [(R, 1, 0), (1.5 * R, 1, 1), (1.5 * R, 0, 0)]


def test_connect_by_address_and_to_itself():
    env, net, a, b = world()
    b.listen(25)
    a.listen(25)
    times = []

    def client():
        ep = yield net.connect("a", "10.0.0.2", 25)
        times.append((env.now, ep.remote.host))
        ep = yield net.connect(a, a, 25)
        times.append((env.now, ep.remote.host))

    env.process(client())
    env.run()
    assert times == [(R, "b"), (R, "a")]


def test_send_takes_bytes_subclasses_bytearray_and_memoryview_as_plain_bytes():
    env, net, a, b = world()
    listener = b.listen(25)
    got = []

    class Line(bytes):
        pass

    def client():
        ep = yield net.connect(a, b, 25)
        for chunk in (Line(b"one"), bytearray(b"two"), memoryview(b"three")):
            ep.send(chunk)

    def server():
        ep = yield listener.accept()
        for _ in range(3):
            got.append((yield ep.recv()))

    env.process(client())
    env.process(server())
    env.run()
    assert got == [b"one", b"two", b"three"] and all(type(chunk) is bytes for chunk in got)
