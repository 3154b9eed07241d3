"""Mail content: making real RFC 5322 messages, and the header work an MTA does on the wire form.

A message is born as an ``email.message.EmailMessage`` with a Message-ID. Once queued it travels as bytes
(CRLF lines, exactly what crosses the wire), so that each hop can prepend ``Received:`` and the final one
``Return-Path:`` (RFC 5321 §4.4) without re-parsing. ``parse`` gives the ``EmailMessage`` back on demand.
The Message-ID is how the lab follows a message across hops: it is the key of every record.
"""

from __future__ import annotations

import email
import email.policy
import functools
import random
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

#: Simulated time 0 is this instant, so that Date: and Received: headers read like real ones.
EPOCH = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)

_HEADER_END = b"\r\n\r\n"
_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*<([^>\r\n]*)>", re.IGNORECASE | re.MULTILINE)
_SIMPLE_SUBJECT = re.compile(r"^[!-~]+( [!-~]+)*$")  # printable ASCII words; no "=?" encoded-word look-alikes
_WORDS = ("mail", "queue", "relay", "retry", "packet", "route", "host", "domain", "reply", "session",
          "message", "header", "body", "latency", "window", "backoff", "greeting", "envelope")


def rfc5322_date(now: float) -> str:
    """RFC 5322 date of simulated time ``now`` (whole seconds, as mail headers carry), exactly as
    ``email.utils.format_datetime`` writes it; the day part is made once a day (the test suite compares)."""
    day, second = divmod(int(now) + _EPOCH_SECOND_OF_DAY, 86400)
    hours, rest = divmod(second, 3600)
    return f"{_day_prefix(day)}{hours:02d}:{rest // 60:02d}:{rest % 60:02d} +0000"


_EPOCH_MIDNIGHT = EPOCH.replace(hour=0, minute=0, second=0)
_EPOCH_SECOND_OF_DAY = int((EPOCH - _EPOCH_MIDNIGHT).total_seconds())


@functools.lru_cache(maxsize=64)
def _day_prefix(day: int) -> str:
    """``"Mon, 05 Jan 2026 "``: the date part of the ``day``-th day from EPOCH's."""
    stamp = format_datetime(_EPOCH_MIDNIGHT + timedelta(days=day))
    return stamp[: -len("00:00:00 +0000")]


class BodyMaker:
    """Plain-text bodies of a requested size, drawn from ``rng`` only.

    Lines (at most 72 characters, so no transfer encoding is needed) come from a pool made once from the
    stream; a body is a run of consecutive pool lines from a seeded starting line, cut to the requested
    size (one random draw a message).
    """

    POOL = 256

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.pool = [self._line() for _ in range(self.POOL)]
        self._text = "\r\n".join(self.pool) + "\r\n"
        self._twice = self._text * 2  # any body shorter than the pool is one slice of this
        self._starts = [0]
        for line in self.pool[:-1]:
            self._starts.append(self._starts[-1] + len(line) + 2)

    def _line(self) -> str:
        words: list[str] = []
        width = 0
        while True:
            word = self.rng.choice(_WORDS)
            if width + len(word) + 1 > 72:
                return " ".join(words)
            words.append(word)
            width += len(word) + 1

    def body(self, size: int) -> str:
        """About ``size`` octets of text in CRLF lines (never less than one line)."""
        start = self._starts[self.rng.randrange(self.POOL)]
        window = max(size, 80) + 2  # past the cut, and past the first line end (lines are at most 72)
        if window < len(self._text):
            text = self._twice[start:start + window]
        else:
            copies = (start + size) // len(self._text) + 2
            text = (self._text * copies)[start:]
        cut = text.rfind("\r\n", 0, max(size, 1) + 1)
        if cut <= 0:
            cut = text.find("\r\n")
        return text[:cut] + "\r\n"


def make_message(
    message_id: str, sender: str, recipients: tuple[str, ...], subject: str, body: str, now: float
) -> EmailMessage:
    """A real message with the headers an MUA writes (RFC 5322 §3.6)."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender or "MAILER-DAEMON"
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = rfc5322_date(now)
    message["Message-ID"] = f"<{message_id}>"
    message.set_content(body)
    return message


def message_bytes(
    message_id: str, sender: str, recipients: tuple[str, ...], subject: str, body: str, now: float,
    plain_body: bool = False,
) -> bytes:
    """``to_bytes(make_message(...))``, written directly when the result is known to be identical.

    The email package's generator is slow (milliseconds a message). For plain ASCII headers that need no
    folding and an ASCII body of short lines, its output is fixed; the test suite checks the two agree
    byte for byte. Anything else goes through the email package. ``plain_body=True`` is the caller's
    word that the body is ASCII in CRLF lines of at most 78 characters (``BodyMaker``'s are), which
    saves checking it.
    """
    headers = (
        f"From: {sender or 'MAILER-DAEMON'}\r\nTo: {', '.join(recipients)}\r\nSubject: {subject}\r\n"
        f"Date: {rfc5322_date(now)}\r\nMessage-ID: <{message_id}>\r\n"
    )
    simple = (
        _SIMPLE_SUBJECT.match(subject) is not None
        and headers.isascii()
        and max(map(len, headers.split("\r\n"))) <= 78
    )
    lines_ok = plain_body or (
        body.isascii()
        and body.count("\n") == body.count("\r\n") == body.count("\r")
        and max(map(len, body.split("\r\n"))) <= 78
    )
    if not simple or "=?" in subject or not lines_ok:
        return to_bytes(make_message(message_id, sender, recipients, subject, body, now))
    return (headers + _PLAIN_TEXT + body).encode("ascii")


_PLAIN_TEXT = (
    'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 7bit\r\nMIME-Version: 1.0\r\n\r\n'
)


def to_bytes(message: EmailMessage) -> bytes:
    """The wire form: CRLF line ends, as SMTP carries it."""
    return message.as_bytes(policy=email.policy.SMTP)


def parse(content: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def headers_of(content: bytes) -> bytes:
    return content[: _header_end(content)]


def _header_end(content: bytes) -> int:
    end = content.find(_HEADER_END)
    return len(content) if end < 0 else end + 2


def _field_starts(content: bytes, end: int, name: bytes) -> list[int]:
    """Offsets of the header lines (before ``end``) whose field name is ``name`` (lower case), found
    by plain counting on a lower-cased copy: much faster than a case-insensitive regex scan."""
    lowered = content[:end].lower()
    starts = [0] if lowered.startswith(name) else []
    found = lowered.find(b"\n" + name)
    while found >= 0:
        starts.append(found + 1)
        found = lowered.find(b"\n" + name, found + 1)
    return starts


def message_id_of(content: bytes) -> str | None:
    """The Message-ID, read from the header block only."""
    end = _header_end(content)
    for start in _field_starts(content, end, b"message-id:"):
        match = _MESSAGE_ID.match(content, start, end)
        if match:
            break
    else:
        return None
    return match.group(1).decode("ascii", "replace")


def hop_count(content: bytes) -> int:
    """Received: headers in the header block: the loop detector's count (RFC 5321 §6.3)."""
    return len(_field_starts(content, _header_end(content), b"received:"))


def received_header(
    helo: str, peer: str, by: str, queue_id: str, recipient: str | None, now: float, protocol: str = "ESMTP"
) -> bytes:
    """A ``Received:`` trace line in RFC 5321 §4.4 form, as Postfix writes it."""
    target = f"\r\n\tfor <{recipient}>" if recipient else ""
    return (
        f"Received: from {helo} ({peer})\r\n\tby {by} (maillab) with {protocol} id {queue_id}{target};"
        f"\r\n\t{rfc5322_date(now)}\r\n"
    ).encode("ascii", "replace")


def return_path_header(sender: str) -> bytes:
    """Added at final delivery (RFC 5321 §4.4): the envelope sender, <> for a bounce."""
    return f"Return-Path: <{sender}>\r\n".encode("ascii", "replace")
