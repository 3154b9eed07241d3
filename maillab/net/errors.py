"""Errors of the network substrate, drawn in one tree.

    MaillabError (maillab.errors)
    └── NetError                    anything maillab.net raises as a simulated network outcome
        ├── ConnectError            a connect() that produced no connection
        │   ├── ConnectRefused      host up, nothing listening: RST after one round trip
        │   └── ConnectTimeout      no answer before the timeout (host down, no route, path cut)
        ├── ConnectionReset         an open connection was reset (link or node failure, crash, abort)
        ├── EndpointClosed          send() after our own close(): a bug of the caller
        ├── ListenerClosed          accept() on a listener that is (or became) closed
        └── DNSError                a lookup that produced no answer
            ├── NXDomain            the name does not exist (permanent)
            └── DNSTempFail         the resolver is in an outage (temporary)

Bad parameters (negative latency, unknown host, duplicate address...) raise ``maillab.errors.ConfigError``.
"""

from __future__ import annotations

from maillab.errors import MaillabError


class NetError(MaillabError):
    """Base class of the simulated network's outcomes."""


class ConnectError(NetError):
    """A connect() attempt that did not produce a connection."""


class ConnectRefused(ConnectError):
    """The destination host answered the SYN with a RST: nothing listens on the port."""


class ConnectTimeout(ConnectError):
    """No SYN-ACK before the connect timeout: host down, no route, or the path was cut."""


class ConnectionReset(NetError):
    """The connection was reset; data in flight is lost and the endpoint is unusable."""


class EndpointClosed(NetError):
    """send() on an endpoint this side already closed (a bug of the caller)."""


class ListenerClosed(NetError):
    """accept() on a closed listener, or a pending accept() whose listener was closed."""


class DNSError(NetError):
    """A DNS lookup that produced no answer."""


class NXDomain(DNSError):
    """The name does not exist: a permanent failure (RFC 5321 §5.1: bounce)."""


class DNSTempFail(DNSError):
    """The resolver is unavailable (outage): a temporary failure (RFC 5321 §5.1: defer)."""
