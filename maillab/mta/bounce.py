"""Delivery status notifications (RFC 3464) sent with the null sender (RFC 5321 §4.5.4, §6.1).

A DSN is ``multipart/report; report-type=delivery-status`` with three parts: text for people, a
``message/delivery-status`` part (per-message fields, then one block per recipient), and the returned
message: its headers and the first part of its body, cut at ``bounce_size_limit`` as Postfix does.
"""

from __future__ import annotations

from dataclasses import dataclass

from maillab.mta.message import rfc5322_date
from maillab.smtp import Reply

BOUNCE_SIZE_LIMIT = 50_000  # Postfix bounce_size_limit


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    """One recipient's line in a DSN."""

    recipient: str
    action: str  # failed | delayed (RFC 3464 §2.3.3)
    reply: Reply
    remote_mta: str | None
    last_attempt: float


def build_dsn(
    *,
    reporting_mta: str,
    dsn_id: str,
    sender: str,
    original: bytes,
    arrival: float,
    now: float,
    statuses: tuple[RecipientStatus, ...],
    size_limit: int = BOUNCE_SIZE_LIMIT,
) -> bytes:
    """The DSN's wire form (CRLF), addressed to ``sender``."""
    boundary = f"{dsn_id}/{reporting_mta}"
    failed = all(s.action == "failed" for s in statuses)
    subject = "Undelivered Mail Returned to Sender" if failed else "Delayed Mail (still being retried)"
    headers = [
        f"From: MAILER-DAEMON@{reporting_mta} (Mail Delivery System)",
        f"To: <{sender}>",
        f"Subject: {subject}",
        f"Date: {rfc5322_date(now)}",
        f"Message-ID: <{dsn_id}@{reporting_mta}>",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
    ]
    parts = [
        _human_part(reporting_mta, statuses, failed),
        _status_part(reporting_mta, arrival, statuses),
        _returned_part(original, size_limit),
    ]
    body = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"
    return ("\r\n".join(headers) + "\r\n\r\nThis is a MIME-encapsulated message.\r\n\r\n" + body).encode("utf-8")


def _human_part(reporting_mta: str, statuses: tuple[RecipientStatus, ...], failed: bool) -> str:
    lead = (
        "I'm sorry to have to inform you that your message could not\r\nbe delivered to one or more recipients."
        if failed
        else "Your message could not be delivered yet; delivery will be retried."
    )
    lines = [f"This is the mail system at host {reporting_mta}.", "", lead, ""]
    lines += [f"<{s.recipient}>: {s.reply}" for s in statuses]
    return "Content-Description: Notification\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" + "\r\n".join(
        lines
    ) + "\r\n"


def _status_part(reporting_mta: str, arrival: float, statuses: tuple[RecipientStatus, ...]) -> str:
    blocks = [f"Reporting-MTA: dns; {reporting_mta}\r\nArrival-Date: {rfc5322_date(arrival)}\r\n"]
    for s in statuses:
        fields = [
            f"Final-Recipient: rfc822; {s.recipient}",
            f"Action: {s.action}",
            f"Status: {s.reply.enhanced or _class_status(s.reply)}",
        ]
        if s.remote_mta:
            fields.append(f"Remote-MTA: dns; {s.remote_mta}")
        fields.append(f"Diagnostic-Code: smtp; {s.reply}")
        fields.append(f"Last-Attempt-Date: {rfc5322_date(s.last_attempt)}")
        blocks.append("\r\n".join(fields) + "\r\n")
    return (
        "Content-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n"
        + "\r\n".join(blocks)
    )


def _class_status(reply: Reply) -> str:
    return f"{reply.code // 100}.0.0"


def _returned_part(original: bytes, size_limit: int) -> str:
    returned = original if len(original) <= size_limit else original[:size_limit]
    if not returned.endswith(b"\r\n"):
        returned = returned[: returned.rfind(b"\r\n") + 2] if b"\r\n" in returned else returned + b"\r\n"
    return (
        "Content-Description: Undelivered Message\r\nContent-Type: message/rfc822\r\n\r\n"
        + returned.decode("utf-8", "replace")
    )
