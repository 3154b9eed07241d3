"""The SMTP engine's client role over a real asyncio socket: send one message, get a result per recipient.

    result = await send_smtp("127.0.0.1", 2525, "a@x.test", ["b@example.test"], content)
    for rcpt in result.recipients:
        print(rcpt.status.value, rcpt.recipient, rcpt.reply)

The engine decides what to say; this driver only moves bytes and keeps the clock: it waits for each reply
at most ``client.timeout`` seconds (RFC 5321 §4.5.3.2 values from ``ClientTimeouts``) and tells the engine
when that runs out. Failing to connect at all raises ``SmtpConnectError``; everything after the connection
is open (refusals, a dropped connection, a timeout) comes back in the ``TransactionResult``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

from maillab.errors import LocalProtocolError, MaillabError
from maillab.realnet.endpoint import Endpoint, describe_os_error
from maillab.smtp.client import (
    ClientConfig,
    ClientConnection,
    ClientTimeouts,
    Transaction,
    TransactionDone,
    TransactionResult,
)
from maillab.smtp.server import NEED_DATA

READ_CHUNK = 65536
CONNECT_TIMEOUT = 30.0  # Postfix smtp_connect_timeout

#: Called with ``"C"`` (a line we sent) or ``"S"`` (a line the server sent) and the line without its CRLF.
Transcript = Callable[[str, bytes], None]


class SmtpConnectError(MaillabError, ConnectionError):
    """No SMTP connection could be opened (refused, unreachable, unknown host, connect timeout)."""

    def __init__(self, where: Endpoint, reason: str) -> None:
        super().__init__(f"could not connect to {where}: {reason}")
        self.where = where
        self.reason = reason


def to_crlf(content: bytes) -> bytes:
    """Content with every line ending in CRLF, as it goes on the wire (so SIZE= is exact, RFC 1870)."""
    return content.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


class _LineSplitter:
    """Cuts a byte stream into lines for the transcript, keeping a partial line for later."""

    def __init__(self, side: str, sink: Transcript | None) -> None:
        self.side, self.sink, self.rest = side, sink, b""

    def feed(self, data: bytes) -> None:
        if self.sink is None:
            return
        *lines, self.rest = (self.rest + data).split(b"\n")
        for line in lines:
            self.sink(self.side, line.rstrip(b"\r"))

    def flush(self) -> None:
        if self.sink is not None and self.rest:
            self.sink(self.side, self.rest)
        self.rest = b""


async def send_smtp(host: str, port: int, sender: str, recipients: Sequence[str], content: bytes, *,
                    pipelining: str = "auto", helo_name: str = "localhost", transcript: Transcript | None = None,
                    timeouts: ClientTimeouts | None = None,
                    connect_timeout: float = CONNECT_TIMEOUT) -> TransactionResult:
    """Deliver one message over SMTP to ``host:port`` and return what happened to each recipient.

    ``pipelining``: "auto" (pipeline when the server advertises PIPELINING) or "off". ``transcript`` is
    called for every line in both directions, in the order they were sent or received.
    Raises ``SmtpConnectError`` when no connection could be opened.
    """
    config = ClientConfig(helo_name=helo_name, pipelining=pipelining, timeouts=timeouts or ClientTimeouts())
    client = ClientConnection([Transaction(sender, tuple(recipients), to_crlf(content))], config)
    reader, writer = await _connect(Endpoint(host, port), connect_timeout)
    try:
        return await _converse(client, reader, writer, transcript)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 5.0)


async def _connect(where: Endpoint, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.wait_for(asyncio.open_connection(where.host, where.port), timeout)
    except TimeoutError as exc:
        raise SmtpConnectError(where, f"no answer within {timeout:g} s") from exc
    except OSError as exc:
        raise SmtpConnectError(where, describe_os_error(exc)) from exc


async def _converse(client: ClientConnection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    transcript: Transcript | None) -> TransactionResult:
    sent, received = _LineSplitter("C", transcript), _LineSplitter("S", transcript)
    result: TransactionResult | None = None
    while True:
        while (event := client.next_event()) is not NEED_DATA:
            if isinstance(event, TransactionDone):
                result = event.result
        out = client.data_to_send()
        if out:
            sent.feed(out)
            if not await _write(writer, out):
                client.connection_lost()
                continue
        if client.done:
            break
        data = await _read(reader, client.timeout)
        if data is None:
            client.timed_out()
            continue
        received.feed(data)
        client.receive_data(data)  # b"": the server closed, the engine records 451 for what is open
    received.flush()
    if result is None:
        raise LocalProtocolError("client session ended without a transaction result")
    return result


async def _write(writer: asyncio.StreamWriter, data: bytes) -> bool:
    try:
        writer.write(data)
        await writer.drain()
    except (ConnectionError, OSError):
        return False
    return True


async def _read(reader: asyncio.StreamReader, timeout: float | None) -> bytes | None:
    """Bytes from the server; b"" when it closed or the connection broke; None when ``timeout`` ran out."""
    try:
        return await asyncio.wait_for(reader.read(READ_CHUNK), timeout or CONNECT_TIMEOUT)
    except TimeoutError:
        return None
    except (ConnectionError, OSError):
        return b""
