"""Virtual TCP: connections pinned to a route, with exact handshake timing, ordered streams and resets.

Timing (one-way route latency L, round trip r = 2L, no loss, no jitter):

- t=0   ``connect()`` sends the SYN; it reaches the server host at L.
- t=L   nothing listening: a RST goes back, ``connect()`` fails with ``ConnectRefused`` at 2L.
        listening: a SYN-ACK goes back and reaches the client at 2L, where ``connect()`` returns the
        client endpoint (the client may send at once).
- t=2L  the client's ACK leaves; it reaches the server at 3L, where ``listener.accept()`` fires.
- A server that writes a greeting on accept has it at the client at 4L = 2r; each request/response pair
  after that costs one more r.
- No SYN-ACK by ``timeout`` (host down or crashed, no route, unknown address, or the path was cut while the
  handshake was in flight): ``connect()`` fails with ``ConnectTimeout`` exactly at ``timeout``.

Streams: each direction of a connection is a FIFO pipe serialising at the route's bottleneck bandwidth B.
A chunk of n bytes sent at t starts transmitting at max(t, end of the previous chunk's transmission), takes
n / B, then needs ``route.transit()`` (latency + jitter + RTO per loss, see ``maillab.net.routing``), and
never arrives before the previous chunk of the same direction (head-of-line blocking, as TCP delivers in
order). Each ``send()`` is one chunk and one SimPy event; ``recv()`` yields chunks exactly as sent
(no coalescing or splitting). Connections do not share bandwidth with each other (no contention model).
Handshake segments and FIN are zero-byte segments through the same pipes, so they obey the same ordering
and may be lost (costing an RTO); a RST is never lost. Route parameters are those at connect time.

Closing: ``close()`` sends a FIN behind the data already sent; the peer's ``recv()`` then yields ``b""``
(and keeps yielding ``b""``). Closing is a half-close: an endpoint that closed can still receive until the
peer's FIN. The connection is CLOSED (logged) when both sides have closed.

Resets: a failure of a link or node on the route, a crash of either host, a listener closed before the
server accepted, or ``abort()`` resets the connection on both sides at once: data in flight is lost,
received data not yet read is discarded, pending and future ``recv()`` fail with ``ConnectionReset`` and
``send()`` raises it. A pending ``recv()`` event is the receiver of the next chunk even if nobody waits on
it any more: after a recv timeout, yield the same event again or close/abort the connection.
"""

from __future__ import annotations

import enum
import itertools
import logging
import math
import random
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import simpy

from maillab.net.element import PathElement
from maillab.net.errors import ConnectionReset, ConnectRefused, ConnectTimeout, EndpointClosed
from maillab.net.node import Host, Listener, Node, fail_quietly
from maillab.net.records import ConnectionRecord, ConnOutcome, Peer
from maillab.net.routing import Route

logger = logging.getLogger(__name__)

RouteLookup = Callable[[str, str], Route | None]
_FIN = None  # the value a FIN segment carries through a pipe


class ConnState(enum.Enum):
    SYN_SENT = "syn_sent"          # waiting for SYN-ACK or RST
    LOST = "lost"                  # handshake cut by a failure: will time out
    ESTABLISHED = "established"
    CLOSED = "closed"              # both sides closed
    RESET = "reset"
    REFUSED = "refused"
    TIMED_OUT = "timed_out"


class EndpointState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"  # this side called close() (it may still receive until the peer's FIN)
    RESET = "reset"


class _Pipe:
    """One direction of a connection: FIFO serialisation at the bottleneck, in-order arrival."""

    __slots__ = ("next_free", "last_arrival")

    def __init__(self) -> None:
        self.next_free = 0.0
        self.last_arrival = 0.0

    def delay(self, now: float, size: int, route: Route, rng: random.Random, rto: float) -> float:
        """Delay until a segment of ``size`` bytes sent now arrives at the other end."""
        end = now if now > self.next_free else self.next_free
        if size and route.bandwidth != math.inf:
            end += size / route.bandwidth
        self.next_free = end
        arrival = end + route.transit(rng, rto)
        if arrival < self.last_arrival:
            arrival = self.last_arrival
        self.last_arrival = arrival
        return arrival - now


class Transport:
    """Opens connections and writes the connection log; owned by ``Network``."""

    __slots__ = ("env", "rng", "rto", "routes", "nodes", "log", "_ids")

    def __init__(
        self,
        env: simpy.Environment,
        rng: random.Random,
        rto: float,
        routes: RouteLookup,
        nodes: Mapping[str, Node],
        log: list[ConnectionRecord],
    ) -> None:
        self.env = env
        self.rng = rng
        self.rto = rto
        self.routes = routes
        self.nodes = nodes
        self.log = log
        self._ids = itertools.count(1)

    def open(self, src: Host, dst: Host | None, dst_label: str, port: int, timeout: float | None) -> simpy.Event:
        """Start a handshake; the returned event yields the client endpoint or fails (no process of its
        own: a connect costs the event loop nothing beyond its segments)."""
        done = self.env.event()
        conn = Connection(self, f"c{next(self._ids)}", src, dst, dst_label, port, done)
        conn.start(timeout)
        return done

    def record(self, conn: Connection, outcome: ConnOutcome, reason: str = "") -> None:
        now = self.env.now
        self.log.append(ConnectionRecord(now, conn.id, conn.src.name, conn.dst_label, conn.port, outcome, reason))
        logger.debug("t=%.6f %s %s->%s:%d %s %s", now, conn.id, conn.src.name, conn.dst_label, conn.port,
                     outcome.value, reason)


class Connection:
    """Both directions of one connection, its handshake and its fate. Internal: users hold Endpoints."""

    __slots__ = ("t", "id", "src", "dst", "dst_label", "port", "src_port", "state", "route", "_done",
                 "client", "server", "_listener", "_lost_reason", "_c2s", "_s2c", "_path")

    def __init__(
        self, t: Transport, conn_id: str, src: Host, dst: Host | None, dst_label: str, port: int, done: simpy.Event
    ) -> None:
        self.t = t
        self.id = conn_id
        self.src = src
        self.dst = dst
        self.dst_label = dst_label
        self.port = port
        self.src_port = src.ephemeral_port()
        self.state = ConnState.SYN_SENT
        self.route: Route | None = None
        self._done: simpy.Event | None = done  # connect()'s event, until the handshake is decided
        self.client: Endpoint | None = None
        self.server: Endpoint | None = None
        self._listener: Listener | None = None
        self._lost_reason = "no answer"
        self._c2s = _Pipe()
        self._s2c = _Pipe()
        self._path: tuple[PathElement, ...] = ()  # the links and nodes the connection is pinned to

    # -- handshake -------------------------------------------------------------------------------------
    def start(self, timeout: float | None) -> None:
        """Send the SYN if there is a route; arm the connect timeout."""
        if timeout is not None:
            self.t.env.timeout(timeout).callbacks.append(self._on_deadline)
        if self.dst is not None and self.src.is_up:
            self.route = self.t.routes(self.src.name, self.dst.name)
        if self.route is None:
            self._lost_reason = self._why_no_route()
            return
        self._pin()
        self._schedule(self._c2s, 0, self._on_syn, _FIN)

    def _why_no_route(self) -> str:
        if self.dst is None:
            return "no host has this address"
        for host, role in ((self.src, "source"), (self.dst, "destination")):
            if not host.is_up:
                return f"{role} host {host.name} is {host.state.value}"
        return "no route"

    def _on_syn(self, _: simpy.Event) -> None:
        if self.state is not ConnState.SYN_SENT:
            return
        assert self.dst is not None
        self._listener = self.dst.listener(self.port)
        self._schedule(self._s2c, 0, self._on_synack if self._listener else self._on_rst, _FIN)

    def _on_rst(self, _: simpy.Event) -> None:
        if self.state is not ConnState.SYN_SENT:
            return
        self._finish(ConnState.REFUSED)
        self.t.record(self, ConnOutcome.REFUSED, "nothing listening")
        fail_quietly(self._decided(), ConnectRefused(f"{self.id}: connection to {self.dst_label}:{self.port} refused"))

    def _on_synack(self, _: simpy.Event) -> None:
        if self.state is not ConnState.SYN_SENT:
            return
        assert self.dst is not None
        self.state = ConnState.ESTABLISHED
        local, remote = Peer(self.src.name, self.src.address, self.src_port), self._server_peer()
        self.client = Endpoint(self, self.src, local, remote)
        self.src.track(self.client)
        self.t.record(self, ConnOutcome.OPENED)
        self._decided().succeed(self.client)
        self._schedule(self._c2s, 0, self._on_ack, _FIN)

    def _on_ack(self, _: simpy.Event) -> None:
        if self.state is not ConnState.ESTABLISHED:
            return
        assert self.dst is not None and self._listener is not None and self.client is not None
        if not self._listener.is_open:
            self.reset(f"host {self.dst.name}: listener on port {self.port} closed before accept")
            return
        self.server = Endpoint(self, self.dst, self._server_peer(), self.client.local)
        self.dst.track(self.server)
        self._listener.deliver(self.server)

    def _on_deadline(self, _: simpy.Event) -> None:
        if self.state not in (ConnState.SYN_SENT, ConnState.LOST):
            return
        self._finish(ConnState.TIMED_OUT)
        self.t.record(self, ConnOutcome.TIMED_OUT, self._lost_reason)
        message = f"{self.id}: connect to {self.dst_label}:{self.port} timed out ({self._lost_reason})"
        fail_quietly(self._decided(), ConnectTimeout(message))

    def _decided(self) -> simpy.Event:
        """connect()'s event, let go once decided: its value (the client endpoint) refers back to this
        connection, and dropping the reference leaves no cycle for the garbage collector."""
        done, self._done = self._done, None
        assert done is not None, f"{self.id}: handshake decided twice"
        return done

    def _server_peer(self) -> Peer:
        assert self.dst is not None
        return Peer(self.dst.name, self.dst.address, self.port)

    # -- data ------------------------------------------------------------------------------------------
    def transmit(self, sender: Endpoint, data: bytes | None) -> None:
        """Put a data chunk (or a FIN, ``None``) on the sender's pipe."""
        size = 0 if data is None else len(data)
        if sender is self.client:
            self._schedule(self._c2s, size, self._on_c2s, data)
        else:
            self._schedule(self._s2c, size, self._on_s2c, data)

    def _schedule(self, pipe: _Pipe, size: int, callback: Callable[[simpy.Event], None], value: Any) -> None:
        assert self.route is not None
        t = self.t
        env = t.env
        delay = pipe.delay(env.now, size, self.route, t.rng, t.rto)
        env.timeout(delay, value).callbacks.append(callback)

    def _on_c2s(self, event: simpy.Event) -> None:
        if self.server is not None and self.state is not ConnState.RESET:
            self.server._arrive(event.value)
            if event.value is _FIN:
                self._let_go_when_quiet()

    def _on_s2c(self, event: simpy.Event) -> None:
        if self.client is not None and self.state is not ConnState.RESET:
            self.client._arrive(event.value)
            if event.value is _FIN:
                self._let_go_when_quiet()

    def _let_go_when_quiet(self) -> None:
        """Both sides closed and both FINs arrived: nothing can reach an endpoint any more, so the
        connection drops its references to them (no endpoint <-> connection cycle is left behind)."""
        client, server = self.client, self.server
        if self.state is ConnState.CLOSED and client is not None and server is not None \
                and client._peer_fin and server._peer_fin:
            self.client = self.server = None

    # -- end of life -----------------------------------------------------------------------------------
    def closed_by(self, endpoint: Endpoint) -> None:
        """An endpoint called close(): send its FIN; log CLOSED when both sides have closed."""
        self.transmit(endpoint, _FIN)
        client, server = self.client, self.server
        if client is not None and server is not None and client._state is EndpointState.CLOSED \
                and server._state is EndpointState.CLOSED:
            self._finish(ConnState.CLOSED)
            self.t.record(self, ConnOutcome.CLOSED)

    def reset(self, reason: str) -> None:
        """Reset on both sides at once (a handshake in flight is lost instead and will time out)."""
        if self.state is ConnState.SYN_SENT:
            self._lost_reason = f"path cut: {reason}"
            self._finish(ConnState.LOST)
        elif self.state is ConnState.ESTABLISHED:
            self._finish(ConnState.RESET)
            for end in (self.client, self.server):
                if end is not None:
                    end._reset(reason)
            self.client = self.server = None  # nothing reaches a reset endpoint: no cycle left behind
            self.t.record(self, ConnOutcome.RESET, reason)

    def _finish(self, state: ConnState) -> None:
        self.state = state
        self._unpin()

    def _pin(self) -> None:
        assert self.route is not None
        nodes = self.t.nodes
        self._path = (*self.route.links, *[nodes[name] for name in self.route.nodes])
        for element in self._path:
            element.attach(self)

    def _unpin(self) -> None:
        for element in self._path:
            element.detach(self)
        self._path = ()


class Endpoint:
    """One side of a connection: what ``connect()`` and ``accept()`` hand out."""

    __slots__ = ("_conn", "_env", "id", "host", "local", "remote", "_state", "_reason", "_inbox", "_waiting",
                 "_peer_fin")

    def __init__(self, conn: Connection, host: Host, local: Peer, remote: Peer) -> None:
        self._conn = conn
        self._env = conn.t.env
        self.id = conn.id  # the connection id, shared by both endpoints ("c1", "c2", ... per Network)
        self.host = host
        self.local = local
        self.remote = remote
        self._state = EndpointState.OPEN
        self._reason = ""
        self._inbox: deque[bytes] = deque()
        self._waiting: deque[simpy.Event] = deque()
        self._peer_fin = False

    @property
    def state(self) -> EndpointState:
        return self._state

    @property
    def is_open(self) -> bool:
        """True until this side closes or the connection is reset."""
        return self._state is EndpointState.OPEN

    @property
    def peer_closed(self) -> bool:
        """True once the peer's FIN has arrived."""
        return self._peer_fin

    @property
    def route(self) -> Route:
        """The route the connection is pinned to (client to server)."""
        assert self._conn.route is not None
        return self._conn.route

    def send(self, data: bytes) -> None:
        """Queue ``data`` for the peer (non-blocking). Raises ConnectionReset / EndpointClosed."""
        if type(data) is not bytes:  # the common case first; bytes subclasses, bytearray, memoryview below
            if not isinstance(data, bytes | bytearray | memoryview):
                raise TypeError(f"{self.id}: send() takes bytes, got {type(data).__name__}")
            data = bytes(data)
        if self._state is not EndpointState.OPEN:
            self._check_sendable()
        if data:
            self._conn.transmit(self, data)

    def recv(self) -> simpy.Event:
        """An event yielding the next chunk, ``b""`` after the peer's FIN, or failing with ConnectionReset."""
        event = self._env.event()
        if self._state is EndpointState.RESET:
            fail_quietly(event, self._reset_error())
        elif self._inbox:
            event.succeed(self._inbox.popleft())
        elif self._peer_fin:
            event.succeed(b"")
        else:
            self._waiting.append(event)
        return event

    def close(self) -> None:
        """Send a FIN after the data already sent (idempotent; no-op on a reset endpoint)."""
        if self._state is not EndpointState.OPEN:
            return
        self._state = EndpointState.CLOSED
        self.host.untrack(self)
        self._conn.closed_by(self)

    def abort(self, reason: str | None = None) -> None:
        """Reset the connection on both sides at once (like a RST)."""
        self._conn.reset(reason or f"aborted by {self.host.name}")

    # -- called by the connection ----------------------------------------------------------------------
    def _arrive(self, chunk: bytes | None) -> None:
        """A data chunk (or a FIN, ``None``) arrives."""
        if chunk is None:
            self._peer_fin = True
            while self._waiting:
                self._waiting.popleft().succeed(b"")
        elif self._waiting:
            self._waiting.popleft().succeed(chunk)
        else:
            self._inbox.append(chunk)

    def _reset(self, reason: str) -> None:
        """The connection was reset: drop unread data, fail pending receives."""
        self._state = EndpointState.RESET
        self._reason = reason
        self.host.untrack(self)
        self._inbox.clear()
        while self._waiting:
            fail_quietly(self._waiting.popleft(), self._reset_error())

    def _check_sendable(self) -> None:
        if self._state is EndpointState.RESET:
            raise self._reset_error()
        if self._state is EndpointState.CLOSED:
            raise EndpointClosed(f"{self.id}: send() after close() on {self.host.name}")

    def _reset_error(self) -> ConnectionReset:
        return ConnectionReset(f"{self.id}: connection {self.local} <-> {self.remote} reset ({self._reason})")

    def __repr__(self) -> str:
        return f"Endpoint({self.id}, {self.local} -> {self.remote}, {self._state.value})"
