"""Helpers for the interop tests: peers to talk to and a telnet-like client. Every socket has a timeout.

A module of its own (not conftest) so test files can import it by a name no other test directory uses.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

TIMEOUT = 10.0  # seconds, for every socket operation in these tests
DOMAIN = "example.test"


def free_port() -> int:
    """A port that was free a moment ago (aiosmtpd's Controller cannot listen on port 0 itself)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class Collector:
    """An aiosmtpd handler that keeps every envelope and refuses recipients whose local-part is 'reject…'."""

    envelopes: list[Received] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.startswith("reject"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.envelopes.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"


@dataclass
class Aiosmtpd:
    host: str
    port: int
    handler: Collector


class Telnet:
    """What a person at a telnet prompt does: send a line, read the reply. Every read has a timeout."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.file = self.sock.makefile("rb")
        self.log: list[str] = []

    def reply(self) -> list[str]:
        """One reply, all its lines (``250-…`` continuations and the ``250 …`` last line)."""
        lines = []
        while True:
            raw = self.file.readline()
            if not raw:
                raise ConnectionError(f"server closed the connection; so far {lines}")
            assert raw.endswith(b"\r\n"), raw
            line = raw[:-2].decode()
            self.log.append(f"S: {line}")
            lines.append(line)
            if line[3:4] != "-":
                return lines

    def send(self, line: str) -> None:
        self.log.append(f"C: {line}")
        self.sock.sendall(line.encode() + b"\r\n")

    def command(self, line: str) -> str:
        """Send one command, return the last line of its reply."""
        self.send(line)
        return self.reply()[-1]

    def at_eof(self) -> bool:
        return self.file.read() == b""

    def close(self) -> None:
        self.file.close()
        self.sock.close()
