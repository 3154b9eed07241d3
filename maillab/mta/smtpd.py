"""smtpd: the server engine on port 25 of a simulated host, one SimPy process per connection.

The engine asks ``MtaPolicy`` (its hooks) what to answer; the policy asks the MTA (local users, relay
rules, the queue) and the scenario's behaviours (greylisting, quotas, …). Replies are flushed when the
input is exhausted (RFC 2920 §3.2), after any tarpit delay. An idle client is dropped after
``idle_timeout`` with 421 (Postfix smtpd_timeout 300 s).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Sequence
from typing import Any, Protocol

import simpy

from maillab.mta.behaviours import Behaviour, Client
from maillab.mta.deadline import Deadline
from maillab.mta.records import Recorder
from maillab.net import ConnectionReset, Endpoint, Host, Listener, ListenerClosed
from maillab.smtp import NEED_DATA, DefaultPolicy, Envelope, Reply, ServerConfig, ServerConnection
from maillab.smtp import Session as SmtpSession
from maillab.smtp import replies as R

log = logging.getLogger(__name__)

SMTP_PORT = 25
TOO_MANY_CONNECTIONS = Reply(421, "4.7.0", "Error: too many connections")
IDLE_TIMEOUT = Reply(421, "4.4.2", "Error: timeout exceeded")


class MailHost(Protocol):
    """What the smtpd needs from its MTA."""

    hostname: str

    def recipient_verdict(self, client_address: str, recipient: str) -> Reply | None: ...

    def accept(self, envelope: Envelope, helo: str, client_address: str, connection: str) -> Reply: ...

    def hop_limit_exceeded(self, content: bytes) -> bool: ...


class MtaPolicy(DefaultPolicy):
    """The hooks of one SMTP session: the MTA's rules first, then the scenario's behaviours."""

    def __init__(
        self, host: MailHost, behaviours: Sequence[Behaviour], clock: Callable[[], float], address: str, connection: str
    ) -> None:
        super().__init__(host.hostname)
        self.host, self.behaviours, self.clock = host, behaviours, clock
        self.address, self.connection = address, connection

    def client(self, session: SmtpSession) -> Client:
        return Client(self.clock(), self.address, session.helo)

    def greeting(self, session: SmtpSession) -> Reply:
        objection = self._first(lambda b: b.greeting(self.client(session)))
        if objection is not None and objection.code == 554:
            return R.no_service(self.hostname)
        return objection or R.ready(self.hostname)

    def recipient(self, session: SmtpSession, envelope: Envelope, address: str) -> Reply:
        verdict = self.host.recipient_verdict(self.address, address)
        if verdict is not None:
            return verdict
        sender = envelope.sender or ""
        return self._first(lambda b: b.recipient(self.client(session), sender, address)) or R.RECIPIENT_OK

    def message(self, session: SmtpSession, envelope: Envelope) -> Reply:
        if self.host.hop_limit_exceeded(envelope.content):
            return R.TOO_MANY_HOPS  # RFC 5321 §6.3; Postfix hopcount_limit
        recipients, size = tuple(envelope.recipients), len(envelope.content)
        objection = self._first(lambda b: b.message(self.client(session), envelope.sender or "", recipients, size))
        if objection is not None:
            return objection
        return self.host.accept(envelope, session.helo or "unknown", self.address, self.connection)

    def _first(self, ask: Callable[[Behaviour], Reply | None]) -> Reply | None:
        for behaviour in self.behaviours:
            reply = ask(behaviour)
            if reply is not None:
                return reply
        return None


class Smtpd:
    """Listens on port 25 of ``host`` and serves each connection with the SMTP engine."""

    def __init__(
        self,
        env: simpy.Environment,
        host: Host,
        mail_host: MailHost,
        config: ServerConfig,
        behaviours: Sequence[Behaviour],
        recorder: Recorder,
        connection_limit: int = 100,
        idle_timeout: float = 300.0,
    ) -> None:
        self.env, self.host, self.mail_host, self.config = env, host, mail_host, config
        self.behaviours, self.recorder = tuple(behaviours), recorder
        self.connection_limit, self.idle_timeout = connection_limit, idle_timeout
        self.sessions = 0
        self.listener: Listener | None = None
        self.process: simpy.Process | None = None
        self.start()

    def start(self) -> None:
        """Listen and accept; called again after the host restarts from a crash."""
        self.listener = self.host.listen(SMTP_PORT)
        self.process = self.env.process(self._accept_loop(self.listener))

    def stop(self) -> None:
        """Stop listening: new connections are refused (the daemon is down)."""
        if self.listener is not None and self.host.listener(SMTP_PORT) is self.listener:
            self.listener.close()
        self.listener = None

    def _accept_loop(self, listener: Listener) -> Generator[simpy.Event, Any, None]:
        while True:
            try:
                endpoint = yield listener.accept()
            except ListenerClosed:
                return
            self.env.process(self._serve(endpoint))

    def _serve(self, endpoint: Endpoint) -> Generator[simpy.Event, Any, None]:
        address = endpoint.remote.address
        if self.sessions >= self.connection_limit:
            yield from self._refuse(endpoint)
            return
        self.sessions += 1
        policy = MtaPolicy(self.mail_host, self.behaviours, lambda: self.env.now, address, endpoint.id)
        server = ServerConnection(policy, self.config, peer=address)
        server.start()
        try:
            yield from self._converse(endpoint, server, policy)
        finally:
            self.sessions -= 1

    def _refuse(self, endpoint: Endpoint) -> Generator[simpy.Event, Any, None]:
        if self._send(endpoint, TOO_MANY_CONNECTIONS.to_bytes()):
            endpoint.close()
        yield self.env.timeout(0)

    def _converse(
        self, endpoint: Endpoint, server: ServerConnection, policy: MtaPolicy
    ) -> Generator[simpy.Event, Any, None]:
        process = self.env.active_process
        asleep = [False]

        def expired() -> None:
            if asleep[0] and process is not None:
                process.interrupt("idle")

        deadline = Deadline(self.env, expired)
        receiving: simpy.Event | None = None
        try:
            while True:
                while server.next_event() is not NEED_DATA:
                    pass
                data = server.data_to_send()
                if data:
                    delay = self._reply_delay(policy, server) if self.behaviours else 0.0
                    if delay > 0:
                        yield self.env.timeout(delay)
                    if not self._send(endpoint, data):
                        server.connection_lost()
                        return
                if server.closed:
                    break
                if receiving is None:
                    receiving = endpoint.recv()
                deadline.arm(self.idle_timeout)
                asleep[0] = True
                try:
                    chunk = yield receiving
                except ConnectionReset:
                    server.connection_lost()
                    return
                except simpy.Interrupt:
                    self._send(endpoint, IDLE_TIMEOUT.to_bytes())
                    server.connection_lost()
                    break
                finally:
                    asleep[0] = False
                receiving = None
                server.receive_data(chunk)
        finally:
            deadline.cancel()
        if endpoint.is_open:
            endpoint.close()

    def _reply_delay(self, policy: MtaPolicy, server: ServerConnection) -> float:
        """How long the behaviours hold the replies back (tarpitting); the longest wins."""
        client = policy.client(server.session)
        return max(behaviour.reply_delay(client) for behaviour in self.behaviours)

    def _send(self, endpoint: Endpoint, data: bytes) -> bool:
        """Write replies; False when the connection was reset meanwhile."""
        self.recorder.wire(self.env.now, endpoint.id, "S", data, False)
        try:
            endpoint.send(data)
        except ConnectionReset:
            return False
        return True
