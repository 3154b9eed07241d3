"""Mail content: making real RFC 5322 messages, and the header work an MTA does on the wire form.

A message is born as an ``email.message.EmailMessage`` with a Message-ID. Once queued it travels as bytes
(CRLF lines, exactly what crosses the wire), so that each hop can prepend ``Received:`` and the final one
``Return-Path:`` (RFC 5321 §4.4) without re-parsing. ``parse`` gives the ``EmailMessage`` back on demand.
The Message-ID is how the lab follows a message across hops: it is the key of every record.
"""

from __future__ import annotations

import email
import email.policy
import random
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

#: Simulated time 0 is this instant, so that Date: and Received: headers read like real ones.
EPOCH = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)

_HEADER_END = b"\r\n\r\n"
_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*<([^>\r\n]*)>", re.IGNORECASE | re.MULTILINE)
_RECEIVED = re.compile(rb"^Received:", re.IGNORECASE | re.MULTILINE)
_WORDS = ("mail", "queue", "relay", "retry", "packet", "route", "host", "domain", "reply", "session",
          "message", "header", "body", "latency", "window", "backoff", "greeting", "envelope")


def sim_datetime(now: float) -> datetime:
    return EPOCH + timedelta(seconds=now)


def rfc5322_date(now: float) -> str:
    return format_datetime(sim_datetime(now))


def make_body(size: int, rng: random.Random) -> str:
    """Plain text of about ``size`` octets in lines of at most 72 characters, from ``rng`` only."""
    lines: list[str] = []
    line: list[str] = []
    width = total = 0
    while total < size:
        word = rng.choice(_WORDS)
        if width + len(word) + 1 > 72:
            lines.append(" ".join(line))
            total += width + 1
            line, width = [], 0
        line.append(word)
        width += len(word) + 1
    if line:
        lines.append(" ".join(line))
    return "\r\n".join(lines) + "\r\n"


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


def to_bytes(message: EmailMessage) -> bytes:
    """The wire form: CRLF line ends, as SMTP carries it."""
    return message.as_bytes(policy=email.policy.SMTP)


def parse(content: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def headers_of(content: bytes) -> bytes:
    end = content.find(_HEADER_END)
    return content if end < 0 else content[: end + 2]


def message_id_of(content: bytes) -> str | None:
    """The Message-ID, read from the header block only."""
    match = _MESSAGE_ID.search(headers_of(content))
    return match.group(1).decode("ascii", "replace") if match else None


def hop_count(content: bytes) -> int:
    """Received: headers in the header block: the loop detector's count (RFC 5321 §6.3)."""
    return len(_RECEIVED.findall(headers_of(content)))


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
