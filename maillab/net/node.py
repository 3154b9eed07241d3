"""Nodes of the graph: plain routers and hosts (which have an address, listeners and connections).

Node states: a router is up or down. A host is ``UP``, ``DOWN`` (unplugged: the software keeps running,
its listeners stay open, packets to or through it are silently dropped) or ``CRASHED`` (also unreachable,
and the software is gone: listeners are closed and crash callbacks run so the mail layer can decide what
survives; ``restart()`` brings it back with nothing listening, then runs restart callbacks).

Going down or crashing resets, on both sides and at once, every connection whose path passes through the
node or ends at it (connections are pinned to their route, see ``maillab.net.tcp``). New connections to a
host that is not up time out: a SYN to it is silently dropped.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import simpy

from maillab.errors import ConfigError
from maillab.net import validate
from maillab.net.element import PathElement
from maillab.net.errors import ListenerClosed

if TYPE_CHECKING:
    from maillab.net.tcp import Endpoint

logger = logging.getLogger(__name__)

HostCallback = Callable[["Host"], None]
EPHEMERAL_PORTS = (49152, 65535)  # IANA dynamic range (RFC 6335 §6)


class NodeState(enum.Enum):
    UP = "up"
    DOWN = "down"
    CRASHED = "crashed"


class Node(PathElement):
    """A vertex of the network graph; packets pass only while it is up."""

    __slots__ = ("name", "env")

    def __init__(self, env: simpy.Environment, name: str, on_change: Callable[[], None]) -> None:
        super().__init__(on_change)
        self.env = env
        self.name = name

    def down(self) -> None:
        """Take the node off the network; connections through it are reset."""
        if self._up:
            logger.info("t=%.6f node %s down", self.env.now, self.name)
        self._set_up(False, f"node {self.name} down")

    def up(self) -> None:
        """Put the node back on the network."""
        if not self._up:
            logger.info("t=%.6f node %s up", self.env.now, self.name)
        self._set_up(True, "")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, up={self._up})"


class Router(Node):
    """A plain forwarding node: no address, nothing listens on it."""

    __slots__ = ()


class Host(Node):
    """A host: an address, listening ports, open connections, crash and restart."""

    __slots__ = ("address", "_crashed", "_listeners", "_endpoints", "_on_crash", "_on_restart", "_next_port")

    def __init__(self, env: simpy.Environment, name: str, address: str, on_change: Callable[[], None]) -> None:
        super().__init__(env, name, on_change)
        self.address = address
        self._crashed = False
        self._listeners: dict[int, Listener] = {}
        self._endpoints: dict[str, Endpoint] = {}
        self._on_crash: list[HostCallback] = []
        self._on_restart: list[HostCallback] = []
        self._next_port = EPHEMERAL_PORTS[0]

    @property
    def state(self) -> NodeState:
        if self._crashed:
            return NodeState.CRASHED
        return NodeState.UP if self._up else NodeState.DOWN

    @property
    def connections(self) -> tuple[Endpoint, ...]:
        """This host's endpoints of open connections (client ones from connect, server ones from accept)."""
        return tuple(self._endpoints.values())

    @property
    def listening_ports(self) -> tuple[int, ...]:
        return tuple(self._listeners)

    def listen(self, port: int) -> Listener:
        """Start listening on ``port``; ``accept()`` on the result yields server endpoints."""
        validate.port(port, f"host {self.name}: listen port")
        if self._crashed:
            raise ConfigError(f"host {self.name} is crashed: restart() it before listen({port})")
        if port in self._listeners:
            raise ConfigError(f"host {self.name}: port {port} is already listening")
        listener = Listener(self.env, self, port)
        self._listeners[port] = listener
        return listener

    def listener(self, port: int) -> Listener | None:
        """The open listener on ``port``, if any."""
        return self._listeners.get(port)

    def on_crash(self, callback: HostCallback) -> None:
        """Register ``callback(host)``, called at the end of ``crash()``."""
        self._on_crash.append(callback)

    def on_restart(self, callback: HostCallback) -> None:
        """Register ``callback(host)``, called at the end of ``restart()``."""
        self._on_restart.append(callback)

    def crash(self) -> None:
        """Crash: unreachable, connections reset, listeners closed, then crash callbacks."""
        if self._crashed:
            return
        logger.info("t=%.6f host %s crashes", self.env.now, self.name)
        self._crashed = True
        self._set_up(False, f"host {self.name} crashed")
        for listener in list(self._listeners.values()):
            listener.close()
        for callback in list(self._on_crash):
            callback(self)

    def restart(self) -> None:
        """Come back from a crash: reachable, nothing listening, then restart callbacks."""
        if not self._crashed:
            raise ConfigError(f"host {self.name} is {self.state.value}, not crashed: restart() needs a crash()")
        logger.info("t=%.6f host %s restarts", self.env.now, self.name)
        self._crashed = False
        self._set_up(True, "")
        for callback in list(self._on_restart):
            callback(self)

    def up(self) -> None:
        if self._crashed:
            raise ConfigError(f"host {self.name} is crashed: use restart(), not up()")
        super().up()

    def ephemeral_port(self) -> int:
        """The next client port of this host (cycling through the dynamic range)."""
        port = self._next_port
        self._next_port = port + 1 if port < EPHEMERAL_PORTS[1] else EPHEMERAL_PORTS[0]
        return port

    def track(self, endpoint: Endpoint) -> None:
        """Called by the transport when one of this host's endpoints opens."""
        self._endpoints[endpoint.id] = endpoint

    def untrack(self, endpoint: Endpoint) -> None:
        """Called by the transport when one of this host's endpoints closes or resets."""
        self._endpoints.pop(endpoint.id, None)

    def _forget_listener(self, port: int) -> None:
        self._listeners.pop(port, None)

    def __repr__(self) -> str:
        return f"Host({self.name!r}, {self.address}, {self.state.value})"


class Listener:
    """A listening port. ``accept()`` yields server endpoints in the order their handshakes completed.

    Handshakes completed before anyone accepts wait in an unbounded backlog. A pending accept() event
    receives the next connection even if the process that asked was interrupted meanwhile.
    """

    __slots__ = ("env", "host", "port", "_open", "_ready", "_waiting")

    def __init__(self, env: simpy.Environment, host: Host, port: int) -> None:
        self.env = env
        self.host = host
        self.port = port
        self._open = True
        self._ready: deque[Endpoint] = deque()
        self._waiting: deque[simpy.Event] = deque()

    @property
    def is_open(self) -> bool:
        return self._open

    def accept(self) -> simpy.Event:
        """An event yielding the next server endpoint; fails with ``ListenerClosed`` once closed."""
        event = self.env.event()
        if not self._open:
            fail_quietly(event, ListenerClosed(f"host {self.host.name}: port {self.port} is not listening"))
        elif self._ready:
            event.succeed(self._ready.popleft())
        else:
            self._waiting.append(event)
        return event

    def close(self) -> None:
        """Stop listening: new SYNs are refused, pending accepts fail, unaccepted connections reset."""
        if not self._open:
            return
        self._open = False
        self.host._forget_listener(self.port)
        reason = f"host {self.host.name}: listener on port {self.port} closed"
        while self._waiting:
            fail_quietly(self._waiting.popleft(), ListenerClosed(reason))
        while self._ready:
            self._ready.popleft().abort(reason)

    def deliver(self, endpoint: Endpoint) -> None:
        """Called by the transport when a handshake completes (the client's ACK arrived)."""
        if self._waiting:
            self._waiting.popleft().succeed(endpoint)
        else:
            self._ready.append(endpoint)

    def __repr__(self) -> str:
        return f"Listener({self.host.name}:{self.port}, open={self._open})"


def fail_quietly(event: simpy.Event, exc: Exception) -> None:
    """Fail an event without crashing the run if nobody waits on it any more."""
    event.fail(exc)
    event.defused = True

