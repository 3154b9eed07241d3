"""Routes, multi-hop latency, bottleneck bandwidth, serialisation, jitter."""

import math
import random

import simpy

from maillab.net import Network


def net_of(*links, hosts=("a", "b"), routers=()):
    env = simpy.Environment()
    net = Network(env, random.Random(3))
    for name in hosts:
        net.add_host(name)
    for name in routers:
        net.add_router(name)
    for a, b, latency, *rest in links:
        net.add_link(a, b, latency, *rest)
    return env, net


def receive_all(env, net, listener, log):
    def server():
        ep = yield listener.accept()
        while (chunk := (yield ep.recv())) != b"":
            log.append((env.now, len(chunk)))
    env.process(server())


def test_bandwidth_adds_size_over_bottleneck_and_serialises_back_to_back_sends():
    env, net = net_of(("a", "b", 0.25, 1000.0))
    arrivals = []
    receive_all(env, net, net.host("b").listen(25), arrivals)

    def client():
        ep = yield net.connect("a", "b", 25)   # t = 0.5
        ep.send(b"x" * 500)                     # transmits 0.5..1.0, arrives 1.25
        ep.send(b"y" * 500)                     # transmits 1.0..1.5, arrives 1.75
        yield env.timeout(2.5)
        ep.send(b"z" * 250)                     # 3.0 + 0.25 + 0.25
        ep.close()

    env.process(client())
    env.run()
    assert arrivals == [(1.25, 500), (1.75, 500), (3.5, 250)]


def test_small_chunk_never_overtakes_a_big_one():
    env, net = net_of(("a", "b", 0.25, 1000.0))
    arrivals = []
    receive_all(env, net, net.host("b").listen(25), arrivals)

    def client():
        ep = yield net.connect("a", "b", 25)
        ep.send(b"x" * 1000)
        ep.send(b"y")
        ep.close()

    env.process(client())
    env.run()
    assert arrivals == [(1.75, 1000), (1.751, 1)]


def test_multi_hop_latency_sums_and_bandwidth_is_the_bottleneck():
    env, net = net_of(("a", "r1", 0.25, 4000.0), ("r1", "r2", 0.125), ("r2", "b", 0.5, 1000.0), routers=("r1", "r2"))
    assert net.path_latency("a", "b") == 0.875
    assert net.bottleneck_bandwidth("a", "b") == 1000.0
    assert net.route("a", "b").nodes == ("a", "r1", "r2", "b")
    arrivals, times = [], []
    receive_all(env, net, net.host("b").listen(25), arrivals)

    def client():
        ep = yield net.connect("a", "b", 25)
        times.append(env.now)
        ep.send(b"x" * 500)

    env.process(client())
    env.run()
    assert times == [1.75]
    assert arrivals == [(1.75 + 0.5 + 0.875, 500)]


def test_unlimited_bandwidth_is_infinite_and_unreachable_is_none():
    env, net = net_of(("a", "b", 0.25), hosts=("a", "b", "island"))
    assert net.bottleneck_bandwidth("a", "b") == math.inf
    assert net.path_latency("a", "island") is None
    assert net.bottleneck_bandwidth("a", "island") is None
    assert net.path_latency("a", "a") == 0.0


def test_routes_take_the_lowest_latency_and_avoid_failed_links_and_down_routers():
    env, net = net_of(
        ("a", "fast", 0.125), ("fast", "b", 0.125), ("a", "slow", 0.5), ("slow", "b", 0.5),
        routers=("fast", "slow"),
    )
    assert net.route("a", "b").nodes == ("a", "fast", "b")
    net.link("fast", "b").fail()
    assert net.route("a", "b").nodes == ("a", "slow", "b")
    assert net.path_latency("a", "b") == 1.0
    net.link("fast", "b").restore()
    assert net.path_latency("a", "b") == 0.25
    net.node("fast").down()
    assert net.route("a", "b").nodes == ("a", "slow", "b")
    net.node("slow").down()
    assert net.route("a", "b") is None
    net.node("fast").up()
    assert net.path_latency("a", "b") == 0.25


def test_down_host_has_no_route_and_new_links_update_routes():
    env, net = net_of(("a", "b", 0.25), hosts=("a", "b", "c"))
    assert net.route("a", "c") is None
    net.add_link("b", "c", 0.5)
    assert net.path_latency("a", "c") == 0.75
    net.host("c").down()
    assert net.route("a", "c") is None
    net.host("c").up()
    assert net.path_latency("c", "a") == 0.75


def test_jitter_is_drawn_per_segment_per_link():
    env, net = net_of(("a", "b", 0.25, None, 0.0, lambda rng: 0.125))
    net.host("b").listen(25)
    times = []

    def client():
        yield net.connect("a", "b", 25)
        times.append(env.now)

    env.process(client())
    env.run()
    assert times == [2 * (0.25 + 0.125)]


def test_negative_jitter_counts_as_zero():
    env, net = net_of(("a", "b", 0.25, None, 0.0, lambda rng: -1.0))
    net.host("b").listen(25)
    times = []

    def client():
        yield net.connect("a", "b", 25)
        times.append(env.now)

    env.process(client())
    env.run()
    assert times == [0.5]


def test_a_delayed_chunk_holds_back_the_next_one():
    draws = iter([0.0, 0.0, 0.0, 1.0, 0.0])  # SYN, SYN-ACK, ACK, first chunk, second chunk
    env, net = net_of(("a", "b", 0.25, None, 0.0, lambda rng: next(draws)))
    arrivals = []
    listener = net.host("b").listen(25)

    def server():
        ep = yield listener.accept()
        for _ in range(2):
            chunk = yield ep.recv()
            arrivals.append((env.now, chunk))

    def client():
        ep = yield net.connect("a", "b", 25)
        ep.send(b"first")
        ep.send(b"second")

    env.process(server())
    env.process(client())
    env.run()
    assert arrivals == [(1.75, b"first"), (1.75, b"second")]
