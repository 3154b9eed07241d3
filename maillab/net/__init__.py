"""maillab.net: the SimPy network substrate (hosts, routers, links, routes, virtual TCP, DNS).

Knows nothing of SMTP. The model in brief (details in each module's docstring):

- ``network``: ``Network(env, rng, rto=1.0)`` builds the graph and opens connections.
- ``routing``: shortest path by latency over up links and up nodes, cached until something changes;
  per-segment loss (one RTO per lost attempt) and jitter.
- ``tcp``: connect returns at 1 round trip r, accept fires at 1.5 r, a greeting sent on accept arrives at
  2 r; FIFO streams serialised at the bottleneck bandwidth; failures reset both sides at once.
- ``node`` / ``link``: up/down, crash/restart with callbacks, fail/restore.
- ``dns``: A and MX records, implicit MX, NXDomain, temporary failures during outages; instantaneous.
- ``errors``: the exception tree.
"""

from maillab.net.dns import DNS, MXRecord, Outage
from maillab.net.errors import (
    ConnectError,
    ConnectionReset,
    ConnectRefused,
    ConnectTimeout,
    DNSError,
    DNSTempFail,
    EndpointClosed,
    ListenerClosed,
    NetError,
    NXDomain,
)
from maillab.net.link import Link
from maillab.net.network import DEFAULT_CONNECT_TIMEOUT, DEFAULT_RTO, Network
from maillab.net.node import Host, Listener, NodeState, Router
from maillab.net.records import ConnectionRecord, ConnOutcome, Peer
from maillab.net.routing import Route
from maillab.net.tcp import Endpoint, EndpointState

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_RTO",
    "DNS",
    "ConnOutcome",
    "ConnectError",
    "ConnectRefused",
    "ConnectTimeout",
    "ConnectionRecord",
    "ConnectionReset",
    "DNSError",
    "DNSTempFail",
    "Endpoint",
    "EndpointClosed",
    "EndpointState",
    "Host",
    "Link",
    "Listener",
    "ListenerClosed",
    "MXRecord",
    "NXDomain",
    "NetError",
    "Network",
    "NodeState",
    "Outage",
    "Peer",
    "Route",
    "Router",
]
