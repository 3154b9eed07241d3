"""Server behaviours a scenario switches on: each may refuse at one decision point of an SMTP session.

A behaviour answers ``None`` ("no objection") or the reply to send instead. The smtpd asks every behaviour
in order and sends the first objection. Each behaviour cites the real software it imitates.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

from maillab.errors import ConfigError
from maillab.smtp import Reply
from maillab.smtp import replies as R

DAY = 86400.0

RATE_LIMITED = Reply(450, "4.7.1", "Error: too many messages from this client, try again later")
SERVICE_BUSY = Reply(421, "4.3.2", "Service temporarily unavailable, closing transmission channel")


@dataclass(frozen=True, slots=True)
class Client:
    """Who is talking to the server, and when."""

    now: float
    address: str
    helo: str | None = None


class Behaviour:
    """Base: no objection anywhere, no delay."""

    def greeting(self, client: Client) -> Reply | None:
        return None

    def recipient(self, client: Client, sender: str, recipient: str) -> Reply | None:
        return None

    def message(self, client: Client, sender: str, recipients: tuple[str, ...], size: int) -> Reply | None:
        return None

    def reply_delay(self, client: Client) -> float:
        return 0.0


def _windows(windows: tuple[tuple[float, float], ...], what: str) -> tuple[tuple[float, float], ...]:
    for start, end in windows:
        if not 0 <= start < end:
            raise ConfigError(f"{what}: window ({start}, {end}) must have 0 <= start < end")
    return windows


def _inside(now: float, windows: tuple[tuple[float, float], ...]) -> bool:
    return any(start <= now < end for start, end in windows)


@dataclass(slots=True)
class _Triplet:
    first_seen: int
    last_seen: int
    passed: bool = False


@dataclass(slots=True)
class Greylisting(Behaviour):
    """postgrey's greylisting: key = client /24 + sender + recipient (postgrey's defaults).

    Defer with 450 4.2.0 while ``now - first_seen < delay``; a triplet retried after more than
    ``retry_window`` starts over; entries older than ``max_age`` are forgotten; a client that passed
    ``auto_whitelist_clients`` times, at least ``whitelist_gap`` apart, is no longer greylisted.
    Times are whole seconds, as postgrey's ``time()``.
    """

    delay: float = 300.0
    retry_window: float = 2 * DAY
    max_age: float = 35 * DAY
    auto_whitelist_clients: int = 5
    whitelist_gap: float = 3600.0
    _triplets: dict[tuple[str, str, str], _Triplet] = field(default_factory=dict)
    _passes: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.delay < 0 or self.retry_window <= 0 or self.max_age <= 0:
            raise ConfigError("greylisting: delay must be >= 0 and retry_window, max_age > 0")

    def recipient(self, client: Client, sender: str, recipient: str) -> Reply | None:
        now, network = int(client.now), _slash24(client.address)
        if self._whitelisted(network):
            return None
        key = (network, sender.lower(), recipient.lower())
        seen = self._triplets.get(key)
        if seen is None or self._stale(seen, now):
            self._triplets[key] = _Triplet(now, now)
            return R.GREYLISTED
        seen.last_seen = now
        if now - seen.first_seen < self.delay:
            return R.GREYLISTED
        seen.passed = True
        self._note_pass(network, now)
        return None

    def _stale(self, seen: _Triplet, now: int) -> bool:
        """Start over: first retry came too late (retry_window), or the entry aged out (max_age)."""
        return (not seen.passed and now - seen.first_seen > self.retry_window) or now - seen.last_seen > self.max_age

    def _whitelisted(self, network: str) -> bool:
        return len(self._passes.get(network, ())) >= self.auto_whitelist_clients

    def _note_pass(self, network: str, now: int) -> None:
        passes = self._passes.setdefault(network, [])
        if not passes or now - passes[-1] >= self.whitelist_gap:
            passes.append(now)


def _slash24(address: str) -> str:
    try:
        return str(ipaddress.ip_network(f"{address}/24", strict=False))
    except ValueError:
        return address


@dataclass(slots=True)
class Quota(Behaviour):
    """Per-mailbox quota: 452 4.2.2 at RCPT when already full, 552 5.2.2 when this message would overflow."""

    limit: int
    usage: Callable[[str], int | None] = lambda recipient: None

    def __post_init__(self) -> None:
        if self.limit <= 0:
            raise ConfigError(f"quota: limit must be a positive number of octets, got {self.limit}")

    def recipient(self, client: Client, sender: str, recipient: str) -> Reply | None:
        used = self.usage(recipient)
        return R.MAILBOX_FULL if used is not None and used >= self.limit else None

    def message(self, client: Client, sender: str, recipients: tuple[str, ...], size: int) -> Reply | None:
        for recipient in recipients:
            used = self.usage(recipient)
            if used is not None and used + size > self.limit:
                return R.QUOTA_EXCEEDED
        return None


@dataclass(slots=True)
class NotWilling(Behaviour):
    """Windows in which the server greets with 421 (closes) or 554 (then 503 until QUIT), RFC 5321 §3.1."""

    windows: tuple[tuple[float, float], ...]
    code: int = 421

    def __post_init__(self) -> None:
        _windows(self.windows, "not-willing")
        if self.code not in (421, 554):
            raise ConfigError(f"not-willing: code must be 421 or 554, got {self.code}")

    def greeting(self, client: Client) -> Reply | None:
        if not _inside(client.now, self.windows):
            return None
        return SERVICE_BUSY if self.code == 421 else R.no_service("server")


@dataclass(slots=True)
class DiskFull(Behaviour):
    """Windows in which the queue file cannot be written: 452 4.3.1 after the final dot (Postfix cleanup)."""

    windows: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        _windows(self.windows, "disk-full")

    def message(self, client: Client, sender: str, recipients: tuple[str, ...], size: int) -> Reply | None:
        return R.INSUFFICIENT_STORAGE if _inside(client.now, self.windows) else None


@dataclass(slots=True)
class RejectRecipients(Behaviour):
    """Named recipients get a fixed reply (an access table: ``check_recipient_access``)."""

    addresses: frozenset[str]
    reply: Reply = R.NO_SUCH_USER

    def recipient(self, client: Client, sender: str, recipient: str) -> Reply | None:
        return self.reply if recipient.lower() in self.addresses else None


@dataclass(slots=True)
class RateLimit(Behaviour):
    """At most ``messages`` recipients per client address per ``window`` seconds (anvil-like): then 450 4.7.1."""

    messages: int
    window: float = 60.0
    _seen: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.messages < 1 or self.window <= 0:
            raise ConfigError("rate limit: messages must be >= 1 and window > 0")

    def recipient(self, client: Client, sender: str, recipient: str) -> Reply | None:
        times = [t for t in self._seen.get(client.address, []) if client.now - t < self.window]
        if len(times) >= self.messages:
            self._seen[client.address] = times
            return RATE_LIMITED
        times.append(client.now)
        self._seen[client.address] = times
        return None


@dataclass(slots=True)
class Tarpit(Behaviour):
    """Every reply is held back ``delay`` seconds (a tarpitting server, smtpd_error_sleep_time-like)."""

    delay: float

    def __post_init__(self) -> None:
        if self.delay < 0:
            raise ConfigError(f"tarpit: delay must be >= 0, got {self.delay}")

    def reply_delay(self, client: Client) -> float:
        return self.delay
