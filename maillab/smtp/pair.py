"""ConnectionPair: a client and a server engine joined in memory, for tests, teaching and benchmarks.

Bytes written by one side are handed to the other until neither has anything more to say. Nothing here
knows about time; the transcript records every line with its direction (``C:`` / ``S:``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from maillab.smtp.client import (
    ClientConfig,
    ClientConnection,
    ClientEvent,
    Transaction,
    TransactionDone,
    TransactionResult,
)
from maillab.smtp.policy import ServerConfig, ServerPolicy
from maillab.smtp.server import NEED_DATA, MessageReceived, ServerConnection, ServerEvent


@dataclass(slots=True)
class ConnectionPair:
    """A client and a server talking over a perfect in-memory wire."""

    client: ClientConnection
    server: ServerConnection
    client_events: list[ClientEvent] = field(default_factory=list)
    server_events: list[ServerEvent] = field(default_factory=list)
    transcript: list[tuple[str, bytes]] = field(default_factory=list)
    record: bool = True
    round_trips: int = 0

    @classmethod
    def build(
        cls,
        transactions: Sequence[Transaction],
        client_config: ClientConfig | None = None,
        policy: ServerPolicy | None = None,
        server_config: ServerConfig | None = None,
        record: bool = True,
    ) -> ConnectionPair:
        return cls(ClientConnection(transactions, client_config), ServerConnection(policy, server_config),
                   record=record)

    def run(self) -> ConnectionPair:
        """Exchange bytes until both sides are done or neither has anything to say."""
        self.server.start()
        while True:
            to_client = self._drain_server()
            if to_client:
                self.round_trips += 1
                self._deliver(to_client, "S", self.client.receive_data)
            elif self.server.closed and not self.client.done:
                self.client.receive_data(b"")
            to_server = self._drain_client()
            if to_server:
                self._deliver(to_server, "C", self.server.receive_data)
            if not to_client and not to_server:
                return self

    def _drain_server(self) -> bytes:
        while (event := self.server.next_event()) is not NEED_DATA:
            self.server_events.append(event)  # type: ignore[arg-type]
        return self.server.data_to_send()

    def _drain_client(self) -> bytes:
        while (event := self.client.next_event()) is not NEED_DATA:
            self.client_events.append(event)  # type: ignore[arg-type]
        return self.client.data_to_send()

    def _deliver(self, data: bytes, side: str, receive: object) -> None:
        if self.record:
            self.transcript.extend((side, line) for line in data.splitlines())
        receive(data)  # type: ignore[operator]

    @property
    def results(self) -> list[TransactionResult]:
        return [event.result for event in self.client_events if isinstance(event, TransactionDone)]

    @property
    def messages(self) -> list[MessageReceived]:
        return [e for e in self.server_events if isinstance(e, MessageReceived) and e.accepted]

    def dialogue(self) -> str:
        """The session as a telnet user reads it: ``S: 220 …`` / ``C: EHLO …``."""
        return "\n".join(f"{side}: {line.decode('utf-8', 'replace')}" for side, line in self.transcript)
