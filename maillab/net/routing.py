"""Routes: shortest path by latency over links that are up, through nodes that are up.

``RouteTable`` runs one Dijkstra per source node (networkx) and caches the resulting paths and the
``Route`` objects built from them; any change of a link's or node's state, or of the topology, clears the
cache. Ties between equal-latency paths are broken by networkx in graph insertion order (deterministic).

``Route.transit(rng, rto)`` is the delay of one segment over the route:
latency (sum of link latencies) + one jitter draw per link that has jitter (negatives count as 0)
+ ``rto`` per loss. A loss is drawn per transmission attempt: the segment crosses the lossy links of the
route in path order, each drawing ``rng.random() < link.loss``; the first loss ends the attempt and costs
one RTO, then the segment is sent again (fresh draws) until an attempt gets through. Links without loss or
jitter draw nothing, so a lossless network consumes no random numbers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

import networkx as nx

from maillab.net.link import Link
from maillab.net.node import Node


@dataclass(frozen=True, slots=True)
class Route:
    """A path from ``nodes[0]`` to ``nodes[-1]`` with its one-way latency and bottleneck bandwidth."""

    nodes: tuple[str, ...]
    links: tuple[Link, ...]
    latency: float
    bandwidth: float  # bytes/s; math.inf when no link on the path limits it
    lossy: tuple[Link, ...] = field(default=(), repr=False)
    jittery: tuple[Link, ...] = field(default=(), repr=False)

    @classmethod
    def over(cls, nodes: tuple[str, ...], links: tuple[Link, ...]) -> Route:
        """Build a route from its nodes and links (in path order)."""
        latency = 0.0
        for link in links:
            latency += link.latency
        bandwidths = [link.bandwidth for link in links if link.bandwidth is not None]
        return cls(
            nodes=nodes,
            links=links,
            latency=latency,
            bandwidth=min(bandwidths, default=math.inf),
            lossy=tuple(link for link in links if link.loss > 0.0),
            jittery=tuple(link for link in links if link.jitter is not None),
        )

    def transit(self, rng: random.Random, rto: float) -> float:
        """Delay of one segment: latency + jitter draws + one RTO per lost attempt."""
        delay = self.latency
        for link in self.jittery:
            assert link.jitter is not None
            delay += max(0.0, float(link.jitter(rng)))
        if self.lossy:
            while any(rng.random() < link.loss for link in self.lossy):
                delay += rto
        return delay


class RouteTable:
    """Cached shortest-latency routes over the up part of the graph."""

    __slots__ = ("_graph", "_nodes", "_routes", "_up_view")

    def __init__(self, graph: nx.Graph, nodes: Mapping[str, Node]) -> None:
        self._graph = graph
        self._nodes = nodes
        self._routes: dict[tuple[str, str], Route | None] = {}
        self._up_view: nx.Graph | None = None

    def invalidate(self) -> None:
        """Forget every cached route (a link or node changed state, or the topology changed)."""
        self._routes.clear()
        self._up_view = None

    def _up(self) -> nx.Graph:
        """The graph without its down nodes and links (the graph itself while everything is up)."""
        if self._up_view is None:
            down_nodes = [name for name, node in self._nodes.items() if not node.is_up]
            down_links = [(u, v) for u, v, link in self._graph.edges(data="link") if not link.is_up]
            self._up_view = nx.restricted_view(self._graph, down_nodes, down_links) \
                if down_nodes or down_links else self._graph
        return self._up_view

    def get(self, src: str, dst: str) -> Route | None:
        """The route from ``src`` to ``dst`` (node names), or None when there is none."""
        key = (src, dst)
        try:
            return self._routes[key]
        except KeyError:
            route = self._routes[key] = self._compute(src, dst)
            return route

    def _compute(self, src: str, dst: str) -> Route | None:
        if not (self._nodes[src].is_up and self._nodes[dst].is_up):
            return None
        path = self._path(src, dst)
        if path is None:
            return None
        links = tuple(self._graph.edges[u, v]["link"] for u, v in zip(path, path[1:], strict=False))
        return Route.over(tuple(path), links)

    def _path(self, src: str, dst: str) -> list[str] | None:
        """One pair's shortest path. A node with a single link can only be left through it, so such
        stubs (hosts on a router, chains of them) are walked without a search; bidirectional Dijkstra
        joins what is left. A route then costs what its neighbourhood costs, not what the graph does."""
        graph = self._up()
        head, tail = _stub(graph, src, stop=dst), _stub(graph, dst, stop=src)
        if dst in head:
            return head[: head.index(dst) + 1]
        a, b = head[-1], tail[-1]
        if b in head:  # the walks met: join them where they did
            return [*head[: head.index(b)], *reversed(tail)]
        if a in tail:
            return [*head, *reversed(tail[: tail.index(a)])]
        try:
            _, middle = nx.bidirectional_dijkstra(graph, a, b, weight="latency")
        except nx.NetworkXNoPath:
            return None
        return [*head[:-1], *middle, *reversed(tail[:-1])]


def _stub(graph: nx.Graph, start: str, stop: str) -> list[str]:
    """``start`` and the nodes reached from it while each has exactly one link (not past ``stop``)."""
    walk, node, previous = [start], start, None
    while node != stop and graph.degree(node) - (previous is not None) == 1:
        following = next(n for n in graph.neighbors(node) if n != previous)
        walk.append(following)
        previous, node = node, following
    return walk
