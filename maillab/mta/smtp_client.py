"""An SMTP client session over a virtual TCP connection: the sans-I/O client engine driven by SimPy.

    session = ClientSession(env, endpoint, ClientConfig(helo_name), recorder)
    failure = yield session.handshake          # None when greeted and EHLO/HELO done, else (reply, stage)
    result = yield session.deliver(transaction)  # a TransactionResult, whatever happens to the connection
    session.quit()

Every reply is awaited with the engine's RFC 5321 §4.5.3.2 timeout. A reset, a timeout or a 421 ends the
session; transactions in flight then get the engine's results (451 4.4.2, or the RFC 1047 window flag).
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

import simpy

from maillab.mta.deadline import Deadline
from maillab.mta.records import Recorder, SessionRecord
from maillab.net import ConnectionReset, Endpoint
from maillab.smtp import (
    NEED_DATA,
    ClientConfig,
    ClientConnection,
    Reply,
    ServerReplied,
    SessionDone,
    Stage,
    Transaction,
    TransactionDone,
    TransactionResult,
)
from maillab.smtp.replies import CONNECTION_LOST

log = logging.getLogger(__name__)

SessionFailure = tuple[Reply, Stage]


class ClientSession:
    """One SMTP client connection that carries transactions one after another (connection reuse)."""

    def __init__(
        self, env: simpy.Environment, endpoint: Endpoint, config: ClientConfig, recorder: Recorder, start: float
    ) -> None:
        """``start``: when the connection attempt began (for the session record)."""
        self.env = env
        self.endpoint = endpoint
        self.recorder = recorder
        self.client = ClientConnection([], config, linger=True)
        self.handshake = env.event()
        self.transactions = 0
        self.start = start
        self.ending: Reply | None = None
        self._waiting: dict[str, simpy.Event] = {}
        self._asleep = False
        self._deadline = Deadline(env, self._expired)
        self._failure: SessionFailure | None = None
        self._stage = Stage.GREETING
        self._content_next = False
        self.process = env.process(self._run())

    @property
    def usable(self) -> bool:
        return self.client.idle and self.handshake.triggered and self.handshake.value is None

    def deliver(self, transaction: Transaction) -> simpy.Event:
        """Send one more transaction on this connection; the event's value is its TransactionResult."""
        done = self.env.event()
        self._waiting[transaction.tag] = done
        self.client.add(transaction)
        self.transactions += 1
        self._pump()
        return done

    def quit(self) -> None:
        if self.client.idle:
            self.client.quit()
            self._pump()

    # --- the pump ------------------------------------------------------------------------------------------

    def _run(self) -> Generator[simpy.Event, Any, None]:
        receiving: simpy.Event | None = None
        while True:
            self._pump()
            if self.client.done:
                break
            if receiving is None:
                receiving = self.endpoint.recv()
            self._asleep = True
            try:
                data = yield receiving
            except ConnectionReset:
                self.client.connection_lost()
                continue
            except simpy.Interrupt:
                log.info("t=%.3f %s: timed out waiting for a reply", self.env.now, self.endpoint.id)
                self.client.timed_out()
                continue
            finally:
                self._asleep = False
            receiving = None
            self.client.receive_data(data)
        self._deadline.release()
        self._close()

    def _pump(self) -> None:
        """Let the engine act on what arrived, send what it wrote, and time the wait for its next reply."""
        self._drain()
        self._flush()
        timeout = None if self.client.done else self.client.timeout
        if timeout is None:
            self._deadline.cancel()
        else:
            self._deadline.arm(timeout)

    def _expired(self) -> None:
        if self._asleep:
            self.process.interrupt("reply timeout")

    def _drain(self) -> None:
        while (event := self.client.next_event()) is not NEED_DATA:
            if isinstance(event, ServerReplied):
                self._content_next = event.stage is Stage.DATA and event.reply.code == 354
                self._note_handshake(event)
            elif isinstance(event, TransactionDone):
                self._resolve(event.result)
            elif isinstance(event, SessionDone):
                self.ending = event.reply
                if not self.handshake.triggered:
                    self.handshake.succeed(self._failure or (event.reply or CONNECTION_LOST, self._stage))

    def _note_handshake(self, event: ServerReplied) -> None:
        """Greeting and EHLO/HELO: the handshake succeeds on a positive hello reply; failures are kept
        until the engine ends the session (after its QUIT), so a 5xx EHLO can still fall back to HELO."""
        if event.stage not in (Stage.GREETING, Stage.HELLO):
            return
        self._stage = Stage.HELLO
        if event.reply.is_positive:
            if event.stage is Stage.HELLO and not self.handshake.triggered:
                self.handshake.succeed(None)
        else:
            self._failure = (event.reply, event.stage)

    def _resolve(self, result: TransactionResult) -> None:
        waiter = self._waiting.pop(result.transaction.tag, None)
        if waiter is not None:
            waiter.succeed(result)

    def _flush(self) -> None:
        data = self.client.data_to_send()
        if not data:
            return
        self.recorder.wire(self.env.now, self.endpoint.id, "C", data, self._content_next)
        self._content_next = False
        try:
            self.endpoint.send(data)
        except ConnectionReset:
            self.client.connection_lost()
            self._drain()

    def _close(self) -> None:
        if self.endpoint.is_open:
            self.endpoint.close()
        ending = "quit" if self.ending is not None and self.ending.code == 221 else str(self.ending or "closed")
        self.recorder.sessions.append(SessionRecord(
            self.endpoint.id, self.endpoint.local.host, self.endpoint.remote.host, self.start, self.env.now,
            self.transactions, ending))
