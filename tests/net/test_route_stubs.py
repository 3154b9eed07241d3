"""Routes found by walking single-link stubs equal plain shortest paths, on random graphs."""

from __future__ import annotations

import random

import networkx as nx
import pytest
import simpy

from maillab.net import Network


@pytest.mark.parametrize("seed", range(60))
def test_routes_are_shortest_paths_on_random_graphs(seed):
    r = random.Random(seed)
    net = Network(simpy.Environment(), random.Random(1))
    names = [f"h{i}" for i in range(r.randint(2, 12))]
    for name in names:
        net.add_host(name)
    for i in range(1, len(names)):  # a random tree (many stubs and chains) ...
        net.add_link(names[i], names[r.randrange(i)], latency=r.choice([0.001, 0.002, 0.005]))
    for _ in range(r.randint(0, 3)):  # ... plus a few cycles
        a, b = r.sample(names, 2)
        if not net.graph.has_edge(a, b):
            net.add_link(a, b, latency=r.choice([0.001, 0.003]))
    if r.random() < 0.5:
        net.link(*next(iter(net.graph.edges))).fail()
    up = nx.Graph((u, v, d) for u, v, d in net.graph.edges(data=True) if d["link"].is_up)
    up.add_nodes_from(names)
    for a in names:
        for b in names:
            route = net.route(a, b)
            if not nx.has_path(up, a, b):
                assert route is None
                continue
            assert route is not None and route.nodes[0] == a and route.nodes[-1] == b
            assert route.latency == pytest.approx(nx.dijkstra_path_length(up, a, b, weight="latency"))
            assert all(up.has_edge(u, v) for u, v in zip(route.nodes, route.nodes[1:]))
