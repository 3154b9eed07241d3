"""What the mail layer records: one frozen record per event, collected by a ``Recorder``.

Records hold times, attempts and outcomes; messages hold only mail content (DESIGN style rule 5).
``maillab.lab`` turns these lists into tidy tables (one row per event).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class TranscriptMode(Enum):
    OFF = "off"
    COMMANDS = "commands"  # commands and replies; message content as one summary line per message
    FULL = "full"  # every line, content included


@dataclass(frozen=True, slots=True)
class Injected:
    """A message entered the lab (submitted by a user agent) at ``host``."""

    time: float
    message_id: str
    sender: str
    recipients: tuple[str, ...]
    size: int
    host: str


@dataclass(frozen=True, slots=True)
class Delivered:
    """A copy reached a mailbox. A second copy for the same recipient is a duplicate (RFC 1047)."""

    time: float
    message_id: str
    recipient: str
    host: str
    hops: int
    connection: str | None


@dataclass(frozen=True, slots=True)
class Bounced:
    """An MTA gave up on a recipient and returned it to the sender (or dropped it: null sender)."""

    time: float
    message_id: str
    recipient: str
    host: str
    status: str
    diagnostic: str
    dsn_sent: bool


@dataclass(frozen=True, slots=True)
class Lost:
    """A queued recipient vanished with a volatile spool when its host crashed."""

    time: float
    message_id: str
    recipient: str
    host: str


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of one message to one destination host (or none: suspended, DNS failure)."""

    message_id: str
    host: str
    destination: str
    attempt: int
    mx: str | None
    start: float
    end: float
    outcome: str  # delivered | deferred | bounced | refused | timeout | lost | suspended | dns
    code: int | None
    enhanced: str | None
    text: str
    recipients: int
    connection: str | None = None
    duplicate_risk: bool = False  # final dot sent, reply lost (RFC 1047 window)


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    time: float
    connection: str
    direction: str  # "C" client to server, "S" server to client
    line: str


@dataclass(frozen=True, slots=True)
class QueueSample:
    time: float
    host: str
    active: int
    deferred: int


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """An SMTP session as the client saw it."""

    connection: str
    client: str
    server: str
    start: float
    end: float
    transactions: int
    outcome: str


@dataclass(slots=True)
class Recorder:
    """Collects records from every MTA of one run."""

    transcript_mode: TranscriptMode = TranscriptMode.COMMANDS
    injected: list[Injected] = field(default_factory=list)
    delivered: list[Delivered] = field(default_factory=list)
    bounced: list[Bounced] = field(default_factory=list)
    lost: list[Lost] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    transcript: list[TranscriptLine] = field(default_factory=list)
    queue: list[QueueSample] = field(default_factory=list)
    sessions: list[SessionRecord] = field(default_factory=list)
    lines: int = 0  # SMTP lines written on every connection (counted in every transcript mode)

    def wire(self, time: float, connection: str, direction: str, data: bytes, in_content: bool) -> None:
        """Record bytes written on a connection, line by line, as the transcript mode says."""
        self.lines += 1 if in_content else data.count(b"\r\n")
        mode = self.transcript_mode
        if mode is TranscriptMode.OFF:
            return
        if in_content and mode is TranscriptMode.COMMANDS:
            lines = data.count(b"\r\n")
            summary = f"<message content: {lines} lines, {len(data)} octets, ending with .>"
            self.transcript.append(TranscriptLine(time, connection, direction, summary))
            return
        for line in data.split(b"\r\n")[:-1]:
            self.transcript.append(TranscriptLine(time, connection, direction, line.decode("utf-8", "replace")))
