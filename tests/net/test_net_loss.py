"""Loss model: each segment attempt draws per lossy link in path order; a loss costs one RTO."""

import random

import simpy

from maillab.net import Network

L = 0.25


def lossy_world(seed, losses, rto=1.0):
    """a - r - b, or a - b when one loss is given."""
    env = simpy.Environment()
    net = Network(env, random.Random(seed), rto=rto)
    net.add_host("a"), net.add_host("b")
    if len(losses) == 1:
        net.add_link("a", "b", L, loss=losses[0])
    else:
        net.add_router("r")
        net.add_link("a", "r", L / 2, loss=losses[0])
        net.add_link("r", "b", L / 2, loss=losses[1])
    return env, net


def lost_attempts(rng, losses):
    """Replay of the model: attempts that were lost before one crossed every link."""
    lost = 0
    while any(rng.random() < p for p in losses):
        lost += 1
    return lost


def run_exchange(env, net):
    times = {}
    listener = net.host("b").listen(25)

    def server():
        ep = yield listener.accept()
        times["accept"] = env.now
        ep.send(b"220 greeting")

    def client():
        ep = yield net.connect("a", "b", 25, timeout=None)
        times["connect"] = env.now
        yield ep.recv()
        times["greeting"] = env.now

    env.process(server())
    env.process(client())
    env.run()
    return times


def expected_times(seed, losses, rto=1.0):
    rng = random.Random(seed)
    syn, synack, ack, greeting = (lost_attempts(rng, losses) for _ in range(4))
    connect = 2 * L + rto * (syn + synack)
    accept = connect + L + rto * ack
    return {"connect": connect, "accept": accept, "greeting": accept + L + rto * greeting}


def test_loss_costs_one_rto_per_lost_attempt_single_link():
    seed = 3  # loses the SYN once, the SYN-ACK once, the ACK never, the greeting twice
    env, net = lossy_world(seed, [0.5])
    times = run_exchange(env, net)
    assert times == expected_times(seed, [0.5])
    assert times == {"connect": 0.5 + 2.0, "accept": 2.5 + 0.25, "greeting": 2.75 + 0.25 + 2.0}


def test_loss_draws_links_in_path_order_and_uses_the_network_rto():
    seed = 1  # lost attempts: SYN 1, SYN-ACK 2, ACK 4, greeting 1; RTO 2 s
    env, net = lossy_world(seed, [0.3, 0.6], rto=2.0)
    times = run_exchange(env, net)
    assert times == expected_times(seed, [0.3, 0.6], rto=2.0)
    assert times == {"connect": 0.5 + 6.0, "accept": 6.5 + 0.25 + 8.0, "greeting": 14.75 + 0.25 + 2.0}


def test_same_seed_same_run():
    runs = []
    for _ in range(2):
        env, net = lossy_world(9, [0.4])
        runs.append((run_exchange(env, net), net.connection_log))
    assert runs[0] == runs[1]


def test_a_lossless_network_draws_no_random_numbers():
    env = simpy.Environment()
    rng = random.Random(1)
    state = rng.getstate()
    net = Network(env, rng)
    net.add_host("a"), net.add_host("b")
    net.add_link("a", "b", L)
    run_exchange(env, net)
    assert rng.getstate() == state


def test_loss_delays_later_chunks_too():
    env = simpy.Environment()
    net = Network(env, random.Random(0))
    net.add_host("a"), net.add_host("b")
    net.add_link("a", "b", L, loss=0.5)
    listener = net.host("b").listen(25)
    arrivals = []

    def server():
        ep = yield listener.accept()
        while (yield ep.recv()) != b"":
            arrivals.append(env.now)

    def client():
        ep = yield net.connect("a", "b", 25, timeout=None)
        for _ in range(20):
            ep.send(b"x")
        ep.close()

    env.process(server())
    env.process(client())
    env.run()
    assert len(arrivals) == 20 and arrivals == sorted(arrivals)
