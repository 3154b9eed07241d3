"""The network: a networkx graph of hosts, routers and links, with routes, virtual TCP and DNS.

``Network(env, rng, rto=1.0)`` is the one object the layers above talk to. Build the topology with
``add_host``/``add_router``/``add_link``; fail and restore it through the ``Host``, ``Router`` and ``Link``
objects; open connections with ``connect`` (see ``maillab.net.tcp`` for timing, loss and reset semantics);
look names up in ``network.dns``. Every random draw (loss, jitter) comes from the ``rng`` handed in.
Connection events are appended to ``connection_log`` as ``ConnectionRecord`` rows.
"""

from __future__ import annotations

import ipaddress
import logging
import random
from collections.abc import Iterator

import networkx as nx
import simpy

from maillab.errors import ConfigError
from maillab.net import validate
from maillab.net.dns import DNS
from maillab.net.link import Jitter, Link
from maillab.net.node import Host, Node, Router
from maillab.net.records import ConnectionRecord
from maillab.net.routing import Route, RouteTable
from maillab.net.tcp import Transport

logger = logging.getLogger(__name__)

DEFAULT_RTO = 1.0              # seconds; RFC 6298 §2.1 initial RTO (no backoff is modelled)
DEFAULT_CONNECT_TIMEOUT = 30.0  # seconds; Postfix smtp_connect_timeout
NodeRef = str | Node


class Network:
    """Hosts, routers and links on a SimPy environment, with routes, TCP and DNS."""

    def __init__(self, env: simpy.Environment, rng: random.Random, *, rto: float = DEFAULT_RTO) -> None:
        if not isinstance(rng, random.Random):
            raise ConfigError(f"Network: rng must be a random.Random, got {type(rng).__name__}")
        self.env = env
        self.rng = rng
        self.rto = validate.positive(rto, "Network: rto")
        self.graph: nx.Graph = nx.Graph()
        self.dns = DNS(env)
        self.connection_log: list[ConnectionRecord] = []
        self._nodes: dict[str, Node] = {}
        self._by_address: dict[str, Host] = {}
        self._links: dict[frozenset[str], Link] = {}
        self._routes = RouteTable(self.graph, self._nodes)
        self._tcp = Transport(env, rng, self.rto, self._routes.get, self._nodes, self.connection_log)
        self._free_addresses = _auto_addresses()

    # -- topology --------------------------------------------------------------------------------------
    def add_host(self, name: str, address: str | None = None) -> Host:
        """Add a host; its address is auto-assigned (10.0.x.y) when None. Registers a DNS A record."""
        self._check_new_node(name)
        addr = self._next_free_address() if address is None else validate.address(address, f"host {name}: address")
        if addr in self._by_address:
            raise ConfigError(f"host {name}: address {addr} already belongs to host {self._by_address[addr].name}")
        self.dns.add_a(name, addr)  # first: it validates the name as a DNS name before anything changes
        host = Host(self.env, name, addr, self._routes.invalidate)
        self._add_node(host)
        self._by_address[addr] = host
        return host

    def add_router(self, name: str) -> Router:
        """Add a plain forwarding node (no address)."""
        self._check_new_node(name)
        router = Router(self.env, name, self._routes.invalidate)
        self._add_node(router)
        return router

    def add_link(
        self,
        a: NodeRef,
        b: NodeRef,
        latency: float,
        bandwidth: float | None = None,
        loss: float = 0.0,
        jitter: Jitter | None = None,
    ) -> Link:
        """Link two nodes (one-way ``latency`` s, ``bandwidth`` bytes/s or None = infinite)."""
        u, v = _name_of(a), _name_of(b)
        for end in (u, v):
            if end not in self._nodes:
                raise ConfigError(f"link {u}<->{v}: unknown node {end!r} (add_host or add_router it first)")
        if u == v:
            raise ConfigError(f"link {u}<->{v}: a link needs two different nodes")
        if frozenset((u, v)) in self._links:
            raise ConfigError(f"link {u}<->{v}: these nodes are already linked")
        link = Link(u, v, latency, bandwidth=bandwidth, loss=loss, jitter=jitter,
                    on_change=self._routes.invalidate, clock=lambda: self.env.now)
        self._links[frozenset((u, v))] = link
        self.graph.add_edge(u, v, link=link, latency=link.latency)
        self._routes.invalidate()
        return link

    # -- lookups ---------------------------------------------------------------------------------------
    @property
    def hosts(self) -> tuple[Host, ...]:
        return tuple(node for node in self._nodes.values() if isinstance(node, Host))

    @property
    def links(self) -> tuple[Link, ...]:
        return tuple(self._links.values())

    def node(self, name: str) -> Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise ConfigError(f"network: unknown node {name!r}") from None

    def host(self, name: str) -> Host:
        node = self.node(name)
        if not isinstance(node, Host):
            raise ConfigError(f"network: {name!r} is a router, not a host")
        return node

    def host_by_address(self, address: str) -> Host:
        try:
            return self._by_address[validate.address(address, "network: host_by_address")]
        except KeyError:
            raise ConfigError(f"network: no host has address {address!r}") from None

    def link(self, a: NodeRef, b: NodeRef) -> Link:
        u, v = _name_of(a), _name_of(b)
        try:
            return self._links[frozenset((u, v))]
        except KeyError:
            raise ConfigError(f"network: no link between {u!r} and {v!r}") from None

    # -- routes ----------------------------------------------------------------------------------------
    def route(self, a: NodeRef, b: NodeRef) -> Route | None:
        """Shortest-latency route over up links and nodes, or None when unreachable."""
        u, v = self.node(_name_of(a)).name, self.node(_name_of(b)).name
        return self._routes.get(u, v)

    def path_latency(self, a: NodeRef, b: NodeRef) -> float | None:
        """One-way latency of the route from a to b (s), or None when unreachable."""
        route = self.route(a, b)
        return None if route is None else route.latency

    def bottleneck_bandwidth(self, a: NodeRef, b: NodeRef) -> float | None:
        """Smallest link bandwidth on the route (bytes/s, math.inf if unlimited), or None when unreachable."""
        route = self.route(a, b)
        return None if route is None else route.bandwidth

    # -- connections -----------------------------------------------------------------------------------
    def connect(
        self,
        src: str | Host,
        dst: str | Host,
        port: int,
        timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    ) -> simpy.Event:
        """Open a TCP connection from host ``src`` to ``dst`` (host, host name or address).

        The event yields the client ``Endpoint`` after one round trip, or fails with ``ConnectRefused``
        (after one round trip) or ``ConnectTimeout`` (at ``timeout``; None waits forever). Yield it or
        otherwise handle its failure: an unhandled failed process stops the SimPy run.
        An address no host has is accepted (the SYN goes nowhere: timeout); a name that is neither a host
        nor an address is a ConfigError (resolve mail domains through ``network.dns`` first).
        """
        client = src if isinstance(src, Host) else self.host(src)
        validate.port(port, f"connect {client.name} -> {dst}: port")
        limit = validate.positive_or_none(timeout, f"connect {client.name} -> {dst}: timeout")
        server, label = self._destination(dst, client.name)
        return self._tcp.open(client, server, label, port, limit)

    def _destination(self, dst: str | Host, src: str) -> tuple[Host | None, str]:
        """The host a destination names, with its label for the log (an unassigned address: None)."""
        if isinstance(dst, Host):
            return dst, dst.name
        if dst in self._nodes:
            return self.host(dst), dst
        known = self._by_address.get(dst)  # an address in its canonical form: no parsing needed
        if known is not None:
            return known, known.name
        try:
            addr = str(ipaddress.ip_address(dst))
        except ValueError:
            raise ConfigError(f"connect {src} -> {dst!r}: neither a host name nor an address") from None
        host = self._by_address.get(addr)
        return (host, host.name) if host is not None else (None, addr)

    # -- helpers ---------------------------------------------------------------------------------------
    def _check_new_node(self, name: str) -> None:
        validate.name(name, "node name")
        if name in self._nodes:
            raise ConfigError(f"network: node name {name!r} is already taken")

    def _add_node(self, node: Node) -> None:
        self._nodes[node.name] = node
        self.graph.add_node(node.name)
        self._routes.invalidate()

    def _next_free_address(self) -> str:
        for candidate in self._free_addresses:
            if candidate not in self._by_address:
                return candidate
        raise ConfigError("network: the automatic address range 10.0.0.1-10.0.255.254 is exhausted")


def _name_of(node: NodeRef) -> str:
    return node.name if isinstance(node, Node) else node


def _auto_addresses() -> Iterator[str]:
    """10.0.0.1, 10.0.0.2, ... 10.0.0.254, 10.0.1.1, ... (no .0 or .255 host parts)."""
    for high in range(256):
        for low in range(1, 255):
            yield f"10.0.{high}.{low}"

