"""What the server engine asks its embedding: the session and envelope it describes, and the policy hooks.

The split follows aiosmtpd: a ``Session`` lives as long as the connection, an ``Envelope`` as long as one
mail transaction (MAIL … final dot, or RSET). The engine asks the policy at each decision point; every hook
has a default, so an embedding overrides only what it cares about (``DefaultPolicy``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from maillab.errors import ConfigError
from maillab.smtp import replies as R
from maillab.smtp.replies import Reply


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Limits and extensions of one server; defaults are Postfix 3.x's (REFERENCE §3)."""

    hostname: str = "localhost"
    max_recipients: int = 1000  # smtpd_recipient_limit
    max_message_size: int = 10_240_000  # message_size_limit; 0 = no limit (RFC 1870)
    hard_error_limit: int = 20  # smtpd_hard_error_limit: then 421 and close
    pipelining: bool = True
    eightbitmime: bool = True
    enhanced_status_codes: bool = True
    require_helo: bool = True
    bare_lf: str = "reject"  # "reject" (answer 500 5.5.2) or "accept" (treat LF as CRLF in commands)

    def __post_init__(self) -> None:
        if self.max_recipients < 1:
            raise ConfigError(f"max_recipients must be at least 1, got {self.max_recipients}")
        if self.max_message_size < 0:
            raise ConfigError(f"max_message_size must be >= 0 (0 = no limit), got {self.max_message_size}")
        if self.hard_error_limit < 1:
            raise ConfigError(f"hard_error_limit must be at least 1, got {self.hard_error_limit}")
        if self.bare_lf not in ("reject", "accept"):
            raise ConfigError(f"bare_lf must be 'reject' or 'accept', got {self.bare_lf!r}")

    def ehlo_keywords(self) -> tuple[str, ...]:
        """Extensions advertised in the EHLO reply, in Postfix's order."""
        keywords = []
        if self.pipelining:
            keywords.append("PIPELINING")
        keywords.append(f"SIZE {self.max_message_size}")
        if self.eightbitmime:
            keywords.append("8BITMIME")
        if self.enhanced_status_codes:
            keywords.append("ENHANCEDSTATUSCODES")
        return tuple(keywords)


@dataclass(slots=True)
class Session:
    """Facts of one connection, as the server sees them."""

    peer: str
    helo: str | None = None
    esmtp: bool = False
    hello_verb: str = ""  # "EHLO" or "HELO" while the hello hook is asked (so a policy can refuse only one)
    transactions: int = 0
    errors: int = 0


@dataclass(slots=True)
class Envelope:
    """One mail transaction: sender, accepted recipients, declared size, and finally the content."""

    sender: str | None = None
    declared_size: int | None = None
    body_8bit: bool = False
    recipients: list[str] = field(default_factory=list)
    rejected: int = 0
    content: bytes = b""


class ServerPolicy(Protocol):
    """The decisions an embedding makes for the engine. Each returns the reply to send."""

    def greeting(self, session: Session) -> Reply: ...

    def hello(self, session: Session, name: str) -> Reply | None: ...

    def sender(self, session: Session, envelope: Envelope, address: str, size: int | None) -> Reply: ...

    def recipient(self, session: Session, envelope: Envelope, address: str) -> Reply: ...

    def message(self, session: Session, envelope: Envelope) -> Reply: ...

    def verify(self, session: Session, address: str) -> Reply: ...


class DefaultPolicy:
    """Accepts everything: willing, any sender, any recipient, queues every message, never VRFYs."""

    def __init__(self, hostname: str = "localhost") -> None:
        self.hostname = hostname

    def greeting(self, session: Session) -> Reply:
        return R.ready(self.hostname)

    def hello(self, session: Session, name: str) -> Reply | None:
        return None  # None: the engine's usual EHLO/HELO reply

    def sender(self, session: Session, envelope: Envelope, address: str, size: int | None) -> Reply:
        return R.SENDER_OK

    def recipient(self, session: Session, envelope: Envelope, address: str) -> Reply:
        return R.RECIPIENT_OK

    def message(self, session: Session, envelope: Envelope) -> Reply:
        return R.QUEUED

    def verify(self, session: Session, address: str) -> Reply:
        return R.CANNOT_VRFY
