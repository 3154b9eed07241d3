"""``HOST:PORT`` strings from a command line or a config file, parsed once with a clear error."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from maillab.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A host and a TCP port. ``str()`` gives the ``HOST:PORT`` form back (``[::1]:25`` for IPv6)."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_endpoint(value: str, *, default_port: int | None = None, allow_zero: bool = False,
                   what: str = "address") -> Endpoint:
    """Parse ``HOST:PORT``, ``[IPv6]:PORT`` or (with ``default_port``) a bare ``HOST``.

    Port 0 ("any free port") is accepted only with ``allow_zero``. Raises ``ConfigError`` naming the value.
    """
    text = value.strip()
    host, port_text = _split(text)
    if not host:
        raise ConfigError(f"{what} {value!r}: no host; expected HOST:PORT, e.g. 127.0.0.1:2525")
    if port_text is None or port_text == "":
        if default_port is None or port_text == "":
            raise ConfigError(f"{what} {value!r}: no port; expected HOST:PORT, e.g. {host}:2525")
        return Endpoint(host, default_port)
    if not port_text.isdigit():
        raise ConfigError(f"{what} {value!r}: port {port_text!r} is not a number")
    port = int(port_text)
    low = 0 if allow_zero else 1
    if not low <= port <= 65535:
        raise ConfigError(f"{what} {value!r}: port {port} is out of range {low}-65535")
    return Endpoint(host, port)


def _split(text: str) -> tuple[str, str | None]:
    """Host and port text; the port is None when absent. An IPv6 host needs brackets to carry a port."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ConfigError(f"address {text!r}: '[' without ']'")
        rest = text[end + 1:]
        if rest and not rest.startswith(":"):
            raise ConfigError(f"address {text!r}: expected ':' after ']'")
        return text[1:end], (rest[1:] if rest else None)
    if text.count(":") > 1:
        return text, None  # a bare IPv6 address
    host, colon, port = text.partition(":")
    return host, (port if colon else None)


def describe_os_error(exc: OSError) -> str:
    """A short lower-case reason for a socket error ("connection refused", "address already in use" …).

    asyncio wraps bind and connect errors in messages of its own; the errno says it more plainly.
    """
    if isinstance(exc, socket.gaierror):
        return (exc.strerror or str(exc)).lower()
    if exc.errno:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__
