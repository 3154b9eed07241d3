"""The SMTP engine's server role over real asyncio sockets.

    server = await serve_smtp("127.0.0.1", 2525, "example.test", ["alice"], "/tmp/mail")
    async with server:
        await server.serve_forever()

One ``ServerConnection`` per accepted socket. The driver reads whatever bytes are available, lets the engine
answer every complete command among them, and writes the replies in one go once the input is exhausted:
that is the server half of PIPELINING (RFC 2920 §3.2). It closes the socket after 221/421 (the engine's
``Closed``), and after ``idle_timeout`` seconds without input it sends ``421 4.4.2`` and closes
(RFC 5321 §4.5.3.2.7: a server SHOULD wait at least 5 minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from maillab.errors import ConfigError
from maillab.realnet.endpoint import Endpoint, describe_os_error
from maillab.realnet.maildir import MaildirStore
from maillab.realnet.policy import LocalDomainPolicy
from maillab.smtp.commands import is_mailbox
from maillab.smtp.policy import ServerConfig, ServerPolicy
from maillab.smtp.replies import Reply
from maillab.smtp.server import NEED_DATA, Closed, MessageReceived, Replied, ServerConnection

log = logging.getLogger(__name__)

READ_CHUNK = 65536
IDLE_TIMEOUT = 300.0  # RFC 5321 §4.5.3.2.7 server timeout: 5 minutes
CLOSE_TIMEOUT = 5.0  # how long to wait for a closing socket to flush


def idle_timeout_reply(hostname: str) -> Reply:
    """What the server says before hanging up on an idle client (Postfix: "Error: timeout exceeded")."""
    return Reply(421, "4.4.2", f"{hostname} Error: timeout exceeded")


def shutdown_reply(hostname: str) -> Reply:
    """What open sessions hear when the server stops (RFC 5321 §3.8: 421 when shutting down)."""
    return Reply(421, "4.3.2", f"{hostname} Service shutting down, closing transmission channel")


@dataclass(slots=True)
class _SessionStats:
    peer: str
    started: float
    commands: int = 0
    messages: int = 0
    accepted: int = 0
    ending: str = "connection lost"


class SmtpServer:
    """A listening socket whose every connection runs one SMTP server session of the engine."""

    def __init__(self, policy: ServerPolicy, config: ServerConfig, idle_timeout: float = IDLE_TIMEOUT) -> None:
        if idle_timeout <= 0:
            raise ConfigError(f"idle timeout must be positive, got {idle_timeout}")
        self.policy = policy
        self.config = config
        self.idle_timeout = idle_timeout
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    # --- life cycle ----------------------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> None:
        """Bind and listen. An address in use or not available is a ``ConfigError`` naming it."""
        where = Endpoint(host, port)
        try:
            self._server = await asyncio.start_server(self._session, host, port)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {where}: {describe_os_error(exc)}") from exc
        log.info("listening on %s as %s", self.address, self.config.hostname)

    @property
    def address(self) -> Endpoint:
        """Where the server listens (the real port when it was started on port 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the server is not listening")
        sockname = self._server.sockets[0].getsockname()
        return Endpoint(sockname[0], sockname[1])

    async def serve_forever(self) -> None:
        if self._server is None:
            raise RuntimeError("start() the server first")
        await self._server.serve_forever()

    async def close(self) -> None:
        """Stop listening, tell open sessions 421, and wait for them to end."""
        if self._server is not None:
            self._server.close()
        for task in list(self._sessions):
            task.cancel()
        if self._sessions:
            await asyncio.wait(list(self._sessions), timeout=CLOSE_TIMEOUT)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> SmtpServer:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    # --- one session ---------------------------------------------------------------------------------------

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        peername = writer.get_extra_info("peername") or ("unknown", 0)
        stats = _SessionStats(f"{Endpoint(str(peername[0]), int(peername[1]))}", time.monotonic())
        conn = ServerConnection(self.policy, self.config, peer=str(peername[0]))
        log.debug("%s connected", stats.peer)
        try:
            await self._converse(conn, reader, writer, stats)
        except asyncio.CancelledError:  # close(): the task ends here, normally. Python 3.11's asyncio.streams
            # calls task.exception() on a finished connection task, which raises for a cancelled one.
            if not conn.closed:
                stats.ending = "server shutdown"
                await _say_and_close(writer, shutdown_reply(self.config.hostname).to_bytes())
        except (ConnectionError, OSError) as exc:
            conn.connection_lost()
            stats.ending = f"connection error: {exc}"
        except Exception:  # a bug in a policy hook must not take the server down
            log.exception("%s: session failed", stats.peer)
            stats.ending = "internal error"
        finally:
            await _close(writer)
            self._sessions.discard(task)
            self._log_session(conn, stats)

    async def _converse(self, conn: ServerConnection, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter, stats: _SessionStats) -> None:
        conn.start()
        await self._pump(conn, writer, stats)
        while not conn.closed:
            try:
                data = await asyncio.wait_for(reader.read(READ_CHUNK), self.idle_timeout)
            except TimeoutError:
                writer.write(idle_timeout_reply(self.config.hostname).to_bytes())
                conn.connection_lost()
                stats.ending = f"idle timeout ({self.idle_timeout:g} s)"
                await writer.drain()
                return
            if not data:
                stats.ending = "client closed the connection"
            conn.receive_data(data)
            await self._pump(conn, writer, stats)

    async def _pump(self, conn: ServerConnection, writer: asyncio.StreamWriter, stats: _SessionStats) -> None:
        """Let the engine answer everything buffered, then write all its replies at once (RFC 2920 §3.2)."""
        while (event := conn.next_event()) is not NEED_DATA:
            match event:
                case Replied(line=line, reply=reply):
                    stats.commands += 1
                    if not reply.is_positive:
                        log.info("%s: %r -> %s", stats.peer, line[:80], reply)
                case MessageReceived(reply=reply) as message:
                    stats.messages += 1
                    stats.accepted += message.accepted
                    if not message.accepted:
                        log.info("%s: message from <%s> refused: %s", stats.peer, message.sender, reply)
                case Closed(reply=reply) if reply is not None:
                    stats.ending = f"closed with {reply.code}"
        out = conn.data_to_send()
        if out:
            writer.write(out)
            await writer.drain()

    def _log_session(self, conn: ServerConnection, stats: _SessionStats) -> None:
        log.info("%s session: helo=%s commands=%d messages=%d accepted=%d, %.2f s, ended: %s",
                 stats.peer, conn.session.helo or "-", stats.commands, stats.messages, stats.accepted,
                 time.monotonic() - stats.started, stats.ending)


async def _say_and_close(writer: asyncio.StreamWriter, data: bytes) -> None:
    with contextlib.suppress(Exception):
        writer.write(data)
        await asyncio.wait_for(writer.drain(), CLOSE_TIMEOUT)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT)


async def serve_smtp(host: str, port: int, domain: str, users: Iterable[str] | None, maildir: str | Path, *,
                     hostname: str | None = None, max_message_size: int = 10_240_000,
                     idle_timeout: float = IDLE_TIMEOUT, pipelining: bool = True) -> SmtpServer:
    """Start an SMTP server that is the final destination of ``domain`` and return it, listening.

    ``users``: the local-parts that exist (others get ``550 5.1.1``); ``None`` accepts any local-part of the
    domain. Mail for other domains gets ``554 5.7.1`` (no open relay). Accepted mail goes to
    ``maildir/<user>/`` (a Maildir). ``port`` 0 picks a free port: read it from ``server.address``.
    Bad values and an address already in use raise ``ConfigError``.
    """
    if hostname is not None and not is_mailbox(f"postmaster@{hostname}"):
        raise ConfigError(f"hostname {hostname!r} is not a valid host name (e.g. mx.example.test)")
    name = hostname or domain
    config = ServerConfig(hostname=name, max_message_size=max_message_size, pipelining=pipelining)
    policy = LocalDomainPolicy(name, domain, users, MaildirStore(maildir))
    server = SmtpServer(policy, config, idle_timeout)
    await server.start(host, port)
    return server
