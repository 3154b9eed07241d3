"""Retry policies: when a queue manager tries a deferred message again, and when it gives up.

A policy is a plain stateful object, one per MTA (queue manager). It does pure time arithmetic on
floats in seconds and imports no SimPy, so it can be driven and tested alone (see
:func:`simulate_schedule`). The queue manager calls it like this::

    t = policy.first_attempt(arrival)                   # a new message: Postfix tries at once
    ... attempt at t fails (temporarily) at time now ...
    d = policy.deferred(now=now, arrival=arrival, destination=dest, attempt=n)
    d.retry_at is None  -> give up (bounce, DSN Action: failed)
    otherwise           -> try again at d.retry_at (already on the policy's queue-run grid)

plus the destination-health hooks (``connection_failed`` / ``connection_succeeded`` /
``suspended_until`` / ``destination_idle``), which only the ``postfix`` policy uses (dead-destination
feedback, src/qmgr/qmgr_queue.c); the others accept and ignore them.

Policies (``make_policy(name, **overrides)``; ``POLICY_NAMES``):

==============  =====================================================================================
``postfix``     message-age backoff on a deferred-queue scan grid, lifetime expiry, dead destinations
``exim``        per-destination F/G retry rules measured from the destination's first failure
``sendmail``    every deferred message retried at each queue run (``-q30m``)
``fixed``       constant interval
``exponential`` initial x factor^(n-1), capped, optional seeded jitter
``rfc5321``     RFC 5321 section 4.5.4.1: interval >= 30 min, give up after >= 4 days
==============  =====================================================================================

Attempt counting (a design choice): ``deferred()`` takes an optional ``attempt`` keyword, the number
of deferrals of this message so far including this one (1 = first failure). Every policy accepts it;
only ``exponential`` uses it. When it is omitted, ``exponential`` derives it from the message's age
as if every earlier retry had been on time -- exact for on-time retries, an approximation otherwise.
No per-message state is kept anywhere, so nothing leaks when messages leave the queue.

Time resolution: ``exim`` works in whole seconds, like src/src/retry.c (``time_t now = time(NULL)``);
that is what puts worked case 5 of REFERENCE section 7 exactly on 0, 900, 1800, ... The other
policies use float seconds as given.
"""

from __future__ import annotations

import logging
import math
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from maillab import quantities
from maillab.errors import ConfigError, UnknownPolicyError

__all__ = [
    "DAY",
    "DEFAULT_EXIM_RULES",
    "HOUR",
    "MINUTE",
    "POLICY_NAMES",
    "Deferral",
    "DestinationHealth",
    "EximParams",
    "EximPolicy",
    "EximRecord",
    "EximRule",
    "ExponentialParams",
    "ExponentialPolicy",
    "FixedParams",
    "FixedPolicy",
    "Outcome",
    "PostfixParams",
    "PostfixPolicy",
    "RetryPolicy",
    "Rfc5321Params",
    "Rfc5321Policy",
    "RuleKind",
    "Schedule",
    "SendmailParams",
    "SendmailPolicy",
    "format_duration",
    "make_policy",
    "parse_duration",
    "parse_exim_rule",
    "simulate_schedule",
]

logger = logging.getLogger(__name__)

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0

REASON_BACKOFF = "backoff"
REASON_EXPIRED = "lifetime expired"

_GRID_EPSILON = 1e-9  # float noise allowance when placing a time on a queue-run grid


# --------------------------------------------------------------------------------------------------
# The interface


@dataclass(frozen=True, slots=True)
class Deferral:
    """What to do with a message after a failed (temporary) attempt.

    ``retry_at``: when the queue manager next tries it, already placed on the policy's queue-run
    grid; ``None`` means give up now (return it to the sender). ``reason``: short, for records.
    """

    retry_at: float | None
    reason: str

    def __post_init__(self) -> None:
        if self.retry_at is not None and not math.isfinite(self.retry_at):
            raise ValueError(f"Deferral.retry_at must be finite or None, got {self.retry_at!r}")

    @property
    def gave_up(self) -> bool:
        return self.retry_at is None


@runtime_checkable
class RetryPolicy(Protocol):
    """What a queue manager needs from a retry policy (one instance per MTA)."""

    @property
    def name(self) -> str: ...

    @property
    def delay_warning(self) -> float | None:
        """Seconds after arrival at which to send a "delayed" DSN; None = never."""
        ...

    def first_attempt(self, arrival: float) -> float:
        """When a brand-new message is first tried."""
        ...

    def deferred(
        self,
        *,
        now: float,
        arrival: float,
        destination: str,
        null_sender: bool = False,
        attempt: int | None = None,
    ) -> Deferral:
        """A temporary failure of one message at ``now``: when to retry, or give up."""
        ...

    def delivered(self, *, now: float, destination: str) -> None:
        """A success for ``destination``: reset its per-destination retry state."""
        ...

    def connection_failed(self, *, now: float, destination: str) -> None:
        """A connect or handshake failure (dead-destination feedback)."""
        ...

    def connection_succeeded(self, *, now: float, destination: str) -> None:
        """A connection got through the handshake."""
        ...

    def suspended_until(self, *, now: float, destination: str) -> float | None:
        """While a destination is suspended: when it is re-enabled; None = not suspended."""
        ...

    def destination_idle(self, *, destination: str) -> None:
        """The queue for ``destination`` emptied."""
        ...


class _NoDestinationHealth:
    """No-op destination-health hooks, for policies without dead-destination feedback."""

    __slots__ = ()

    def connection_failed(self, *, now: float, destination: str) -> None:
        return None

    def connection_succeeded(self, *, now: float, destination: str) -> None:
        return None

    def suspended_until(self, *, now: float, destination: str) -> float | None:
        return None

    def destination_idle(self, *, destination: str) -> None:
        return None


class _SimplePolicy(_NoDestinationHealth):
    """Policies with per-message schedules only: first try at once, nothing kept per destination."""

    __slots__ = ()
    params: Any

    @property
    def delay_warning(self) -> float | None:
        warning: float | None = self.params.delay_warning
        return warning

    def first_attempt(self, arrival: float) -> float:
        return arrival

    def delivered(self, *, now: float, destination: str) -> None:
        return None


# --------------------------------------------------------------------------------------------------
# Durations and parameter checks


_TIME_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_TIME_TEXT = re.compile(r"(?:\d+[wdhms])+|\d+")
_TIME_PART = re.compile(r"(\d+)([wdhms])")


def parse_duration(text: str) -> int:
    """Whole seconds from an Exim/Postfix time: ``"15m"``, ``"4d"``, ``"1h30m"``, ``"90"`` (= 90 s).

    Units w, d, h, m, s may be chained; a bare number is seconds (src/src/readconf.c,
    readconf_readtime; postconf(5) "Time units").
    """
    if not isinstance(text, str):
        raise ConfigError(f"a duration must be a string like '15m', got {text!r}")
    compact = text.strip()
    if not _TIME_TEXT.fullmatch(compact):
        raise ConfigError(
            f"bad duration {text!r}: expected digits with units w, d, h, m, s (e.g. '1h30m') or bare seconds"
        )
    if compact.isdigit():
        return int(compact)
    return sum(int(n) * _TIME_UNITS[unit] for n, unit in _TIME_PART.findall(compact))


def format_duration(seconds: float) -> str:
    """Exim-style ``4d5h1m52s`` (src/src/readconf.c, readconf_printtime); rounds to whole seconds."""
    rest = int(round(seconds))
    if rest <= 0:
        return "0s"
    parts = []
    for unit in ("w", "d", "h", "m", "s"):
        count, rest = divmod(rest, _TIME_UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _number(where: str, param: str, value: object, *, integer: bool = False) -> float:
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: {param} must be {kind}, got {value!r}")
    if not math.isfinite(value) or (integer and not float(value).is_integer()):
        raise ConfigError(f"{where}: {param} must be {kind} and finite, got {value!r}")
    return float(value)


def _at_least(where: str, param: str, value: object, minimum: float, *, integer: bool = False) -> None:
    if _number(where, param, value, integer=integer) < minimum:
        raise ConfigError(f"{where}: {param} must be >= {minimum:g}, got {value!r}")


def _positive(where: str, param: str, value: object) -> None:
    if _number(where, param, value) <= 0:
        raise ConfigError(f"{where}: {param} must be > 0 seconds, got {value!r}")


def _optional_positive(where: str, param: str, value: object) -> None:
    if value is not None:
        _positive(where, param, value)


def _not_below(where: str, param: str, value: float, other: str, other_value: float) -> None:
    if value < other_value:
        raise ConfigError(f"{where}: {param} ({value:g}) must be >= {other} ({other_value:g})")


def _seconds(text: str) -> float:
    """A parameter written as text ('5d', '1.5h', '250ms'), as lab files write durations."""
    try:
        seconds = quantities.parse_duration(text)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    return int(seconds) if float(seconds).is_integer() else seconds


def _duration_field(default: float) -> Any:
    """A dataclass field that make_policy() also accepts as text such as '5d'."""
    return field(default=default, metadata={"convert": _seconds})


def _optional_duration_field(default: float | None) -> Any:
    return field(default=default, metadata={"convert": _seconds})


def _expired(now: float, arrival: float, lifetime: float) -> bool:
    """Postfix's test, used by every lifetime-based policy: checked only after a failed attempt,
    ``event_time() >= create_time + lifetime`` (src/qmgr/qmgr_active.c, qmgr_active_done_2_generic)."""
    return now >= arrival + lifetime


def _grid_at_or_after(t: float, start: float, step: float) -> float:
    """The first grid time ``start + k*step`` (k >= 0 integer) at or after ``t``."""
    k = max(0, math.ceil((t - start) / step - _GRID_EPSILON))
    return start + k * step


def _grid_after(t: float, start: float, step: float) -> float:
    """The first grid time strictly after ``t``."""
    k = max(0, math.floor((t - start) / step + _GRID_EPSILON) + 1)
    return start + k * step


def _give_up(policy: str, now: float, arrival: float, reason: str) -> Deferral:
    logger.debug("t=%.3f %s: gives up on message of t=%.3f: %s", now, policy, arrival, reason)
    return Deferral(None, reason)


# --------------------------------------------------------------------------------------------------
# Postfix


# Concurrency feedback of Postfix >= 2.5 with its defaults (src/qmgr/qmgr_queue.c; postconf(5)
# default_destination_concurrency_{positive,negative}_feedback = 1, hysteresis 1).
_POSTFIX_FEEDBACK = 1.0
_POSTFIX_HYSTERESIS = 1


@dataclass(frozen=True, slots=True)
class PostfixParams:
    """Postfix 3.x defaults (src/global/mail_params.h, postconf(5)); names as in main.cf.

    ``delay_warning_time`` 0 = off. ``scan_tolerance``: a deferred-queue scan takes files whose
    time stamp is <= scan time + 1 s (src/qmgr/qmgr_active.c, qmgr_active_feed). ``qmgr_start``:
    when the queue manager started; deferred scans run every ``queue_run_delay`` from then.
    ``destination_concurrency_failed_cohort_limit`` 0 = never suspend a destination.
    ``default_destination_concurrency_limit`` 0 = no limit.
    """

    queue_run_delay: float = _duration_field(300.0)
    minimal_backoff_time: float = _duration_field(300.0)
    maximal_backoff_time: float = _duration_field(4000.0)
    maximal_queue_lifetime: float = _duration_field(5 * DAY)
    bounce_queue_lifetime: float = _duration_field(5 * DAY)
    delay_warning_time: float = _duration_field(0.0)
    initial_destination_concurrency: int = 5
    default_destination_concurrency_limit: int = 20
    destination_concurrency_failed_cohort_limit: float = 1.0
    scan_tolerance: float = _duration_field(1.0)
    qmgr_start: float = _duration_field(0.0)

    def __post_init__(self) -> None:
        where = "retry policy 'postfix'"
        for param in ("queue_run_delay", "minimal_backoff_time", "maximal_backoff_time"):
            _positive(where, param, getattr(self, param))
        for param in ("maximal_queue_lifetime", "bounce_queue_lifetime", "delay_warning_time"):
            _at_least(where, param, getattr(self, param), 0)
        _at_least(where, "scan_tolerance", self.scan_tolerance, 0)
        _number(where, "qmgr_start", self.qmgr_start)
        _at_least(where, "initial_destination_concurrency", self.initial_destination_concurrency, 1, integer=True)
        limit = self.default_destination_concurrency_limit
        _at_least(where, "default_destination_concurrency_limit", limit, 0, integer=True)
        object.__setattr__(self, "initial_destination_concurrency", int(self.initial_destination_concurrency))
        object.__setattr__(self, "default_destination_concurrency_limit", int(limit))
        cohorts = self.destination_concurrency_failed_cohort_limit
        _at_least(where, "destination_concurrency_failed_cohort_limit", cohorts, 0)
        _not_below(
            where, "maximal_backoff_time", self.maximal_backoff_time, "minimal_backoff_time", self.minimal_backoff_time
        )


@dataclass(frozen=True, slots=True)
class DestinationHealth:
    """Postfix's in-memory per-destination queue state (src/qmgr/qmgr.h, struct QMGR_QUEUE).

    ``window``: concurrency window; ``success``/``failure``: feedback hysteresis accumulators;
    ``fail_cohorts``: the failure count; ``suspended_until``: set while the destination is dead.
    """

    window: int
    success: float = 0.0
    failure: float = 0.0
    fail_cohorts: float = 0.0
    suspended_until: float | None = None


def _postfix_throttle(h: DestinationHealth, p: PostfixParams, now: float) -> DestinationHealth:
    """A connection or handshake failure (src/qmgr/qmgr_queue.c, qmgr_queue_throttle)."""
    cohorts = h.fail_cohorts + 1.0 / h.window
    limit = p.destination_concurrency_failed_cohort_limit
    if limit > 0 and cohorts >= limit:  # declared dead: window = QMGR_QUEUE_STAT_THROTTLED
        return replace(h, fail_cohorts=cohorts, suspended_until=now + p.minimal_backoff_time)
    window, success, failure = h.window, h.success, h.failure - _POSTFIX_FEEDBACK
    while failure - _POSTFIX_FEEDBACK / 2 < 0:  # "prepare for overshoot": 5 -> 3 on the first failure
        window -= _POSTFIX_HYSTERESIS
        success = 0.0
        failure += _POSTFIX_HYSTERESIS
    return DestinationHealth(max(window, 1), success, failure, cohorts)


def _postfix_unthrottle(h: DestinationHealth, p: PostfixParams, busy: int) -> DestinationHealth:
    """A delivery without connection trouble (src/qmgr/qmgr_queue.c, qmgr_queue_unthrottle)."""
    if h.suspended_until is not None:  # "back from the almost grave"
        return DestinationHealth(busy if busy > 0 else p.initial_destination_concurrency)
    limit = p.default_destination_concurrency_limit
    window, success, failure = h.window, h.success, h.failure
    if (limit == 0 or limit > window) and window < busy + p.initial_destination_concurrency:
        success += _POSTFIX_FEEDBACK
        while success + _POSTFIX_FEEDBACK / 2 >= _POSTFIX_HYSTERESIS:
            window += _POSTFIX_HYSTERESIS
            success -= _POSTFIX_HYSTERESIS
            failure = 0.0
        if limit > 0:
            window = min(window, limit)
    return DestinationHealth(window, success, failure, 0.0)


class PostfixPolicy:
    """Postfix qmgr: backoff follows the message's age, retries land on deferred-queue scans.

    After a deferral, ``delay = clamp(now - arrival, minimal_backoff_time, maximal_backoff_time)``;
    the message is eligible at ``now + delay`` and is taken by the first scan with
    ``eligible <= scan + scan_tolerance`` (src/qmgr/qmgr_active.c, qmgr_active_done_3_generic and
    qmgr_active_feed). Expiry is checked only after a failed attempt, with bounce_queue_lifetime for
    null-sender mail (qmgr_active_done_2_generic).

    Dead destinations (src/qmgr/qmgr_queue.c): each connection failure adds 1/window to a failure
    count, and the window drops (5 -> 3, then by one, min 1); at count >= the cohort limit the
    destination is suspended for minimal_backoff_time, after which it starts afresh. A connection
    success zeroes the count and grows the window by one per success while it is below
    ``busy + initial_destination_concurrency`` and the concurrency limit.
    """

    __slots__ = ("params", "_health", "_fresh")
    name: str = "postfix"

    def __init__(self, params: PostfixParams | None = None) -> None:
        self.params = params if params is not None else PostfixParams()
        self._health: dict[str, DestinationHealth] = {}
        self._fresh = DestinationHealth(self.params.initial_destination_concurrency)  # immutable: shared

    @property
    def delay_warning(self) -> float | None:
        return self.params.delay_warning_time or None

    def first_attempt(self, arrival: float) -> float:
        return arrival

    def deferred(
        self,
        *,
        now: float,
        arrival: float,
        destination: str,
        null_sender: bool = False,
        attempt: int | None = None,
    ) -> Deferral:
        p = self.params
        lifetime = p.bounce_queue_lifetime if null_sender else p.maximal_queue_lifetime
        if _expired(now, arrival, lifetime):
            return _give_up(self.name, now, arrival, REASON_EXPIRED)
        delay = min(max(now - arrival, p.minimal_backoff_time), p.maximal_backoff_time)
        return Deferral(self._scan_for(now + delay, now), REASON_BACKOFF)

    def _scan_for(self, eligible: float, now: float) -> float:
        """The first deferred-queue scan that takes a file eligible at ``eligible``."""
        p = self.params
        scan = _grid_at_or_after(eligible - p.scan_tolerance, p.qmgr_start, p.queue_run_delay)
        return max(scan, _grid_after(now, p.qmgr_start, p.queue_run_delay))

    def delivered(self, *, now: float, destination: str) -> None:
        return None  # per-message backoff: nothing per destination to reset

    def health(self, destination: str) -> DestinationHealth:
        """The current dead-destination state (fresh if unknown)."""
        health = self._health.get(destination)
        return health if health is not None else self._fresh

    def _wake(self, destination: str, now: float) -> DestinationHealth:
        """Apply the unthrottle timer lazily: a suspension that has run out starts afresh
        (qmgr_queue_unthrottle_wrapper: window back to initial, counts zeroed, empty queue freed)."""
        h = self._health.get(destination)
        if h is not None and h.suspended_until is not None and now >= h.suspended_until:
            del self._health[destination]
            logger.debug("t=%.3f postfix: destination %s re-enabled", now, destination)
        return self.health(destination)

    def connection_failed(self, *, now: float, destination: str) -> None:
        h = self._wake(destination, now)
        if h.suspended_until is not None:
            return  # already dead: only ready queues are throttled
        h = _postfix_throttle(h, self.params, now)
        self._health[destination] = h
        if h.suspended_until is not None:
            logger.debug("t=%.3f postfix: destination %s suspended until %.3f", now, destination, h.suspended_until)

    def connection_succeeded(self, *, now: float, destination: str, busy: int = 0) -> None:
        """``busy``: deliveries to this destination in progress (Postfix busy_refcount); with the
        default 0 the window recovers up to initial_destination_concurrency only."""
        h = self._wake(destination, now)
        self._health[destination] = _postfix_unthrottle(h, self.params, busy)

    def suspended_until(self, *, now: float, destination: str) -> float | None:
        return self._wake(destination, now).suspended_until

    def destination_idle(self, *, destination: str) -> None:
        h = self._health.get(destination)
        if h is not None and h.suspended_until is None:  # qmgr_queue_done: never a dead queue
            del self._health[destination]

    def concurrency_window(self, destination: str, *, now: float | None = None) -> int:
        """How many deliveries to ``destination`` may run at once; 0 while it is suspended.
        Pass ``now`` to let a suspension that has run out end first."""
        h = self._wake(destination, now) if now is not None else self.health(destination)
        return 0 if h.suspended_until is not None else h.window


# --------------------------------------------------------------------------------------------------
# Exim


class RuleKind(Enum):
    """Exim retry rule letters (spec chapter "Retry configuration")."""

    FIXED = "F"
    GEOMETRIC = "G"


def _whole_seconds(where: str, param: str, value: object) -> int:
    number = _number(where, param, value)
    if not number.is_integer():
        raise ConfigError(f"{where}: {param} must be whole seconds, got {value!r}")
    return int(number)


@dataclass(frozen=True, slots=True)
class EximRule:
    """One Exim retry rule: ``F,cutoff,p1`` or ``G,cutoff,p1,factor`` (times in whole seconds).

    ``factor`` is kept to Exim's fixed point: ``p2 = factor * 1000`` must be >= 1000, and a G rule
    needs p1 > 0 (src/src/readconf.c, readconf_retries). F rules also need p1 > 0 here: a zero
    interval would retry in a loop without time passing.
    """

    kind: RuleKind
    cutoff: int
    p1: int
    factor: float = 1.0

    def __post_init__(self) -> None:
        where = f"exim retry rule ({self.kind!r}, {self.cutoff!r}, {self.p1!r}, {self.factor!r})"
        if not isinstance(self.kind, RuleKind):
            raise ConfigError(f"{where}: kind must be RuleKind.FIXED or RuleKind.GEOMETRIC, got {self.kind!r}")
        object.__setattr__(self, "cutoff", _whole_seconds(where, "cutoff", self.cutoff))
        object.__setattr__(self, "p1", _whole_seconds(where, "p1 (interval)", self.p1))
        _at_least(where, "cutoff", self.cutoff, 0)
        if self.p1 <= 0:
            raise ConfigError(f"{where}: p1 (interval) must be > 0 seconds, got {self.p1!r}")
        _number(where, "factor", self.factor)
        if self.kind is RuleKind.GEOMETRIC and self.p2 < 1000:
            raise ConfigError(
                f"{where}: factor must be >= 1 (Exim needs p2 = factor*1000 >= 1000), got {self.factor!r}"
            )
        if self.kind is RuleKind.FIXED and self.factor != 1.0:
            raise ConfigError(f"{where}: an F rule has no factor, got {self.factor!r}")

    @property
    def p2(self) -> int:
        """The factor in Exim's fixed point (x1000)."""
        return int(round(self.factor * 1000))

    def __str__(self) -> str:
        kind = self.kind.value if isinstance(self.kind, RuleKind) else str(self.kind)
        text = f"{kind},{format_duration(self.cutoff)},{format_duration(self.p1)}"
        return text + (f",{self.p2 / 1000:g}" if self.kind is RuleKind.GEOMETRIC else "")


_FACTOR_TEXT = re.compile(r"\d+(?:\.\d{1,3})?")


def _parse_one_rule(text: str, index: int) -> EximRule:
    where = f"exim retry rule {index} {text!r}"
    parts = [part.strip() for part in text.split(",")]
    letter = parts[0].upper()
    if letter not in ("F", "G"):
        raise ConfigError(
            f"{where}: unknown rule letter {parts[0]!r}; expected F or G (Exim's randomized H rule is not modelled)"
        )
    expected = 3 if letter == "F" else 4
    if len(parts) != expected:
        shape = "F,cutoff,interval" if letter == "F" else "G,cutoff,interval,factor"
        raise ConfigError(f"{where}: expected {shape} ({expected} fields), got {len(parts)}")
    try:
        cutoff, p1 = parse_duration(parts[1]), parse_duration(parts[2])
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    factor = 1.0
    if letter == "G":
        if not _FACTOR_TEXT.fullmatch(parts[3]):
            raise ConfigError(f"{where}: factor must be a number with at most 3 decimals, got {parts[3]!r}")
        factor = float(parts[3])
    try:
        return EximRule(RuleKind(letter), cutoff, p1, factor)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


def _check_cutoffs(rules: tuple[EximRule, ...]) -> None:
    if not rules:
        raise ConfigError("exim retry rules: need at least one rule, e.g. 'F,2h,15m; G,16h,1h,1.5; F,4d,6h'")
    for earlier, later in zip(rules, rules[1:], strict=False):
        if later.cutoff <= earlier.cutoff:
            raise ConfigError(f"exim retry rules: cutoffs must increase, but {later} follows {earlier}")


def parse_exim_rule(text: str) -> tuple[EximRule, ...]:
    """Parse the rules of an Exim retry line, e.g. ``"F,2h,15m; G,16h,1h,1.5; F,4d,6h"``.

    Rules are separated by ``;`` (a trailing one is allowed, as in src/src/readconf.c,
    readconf_retries). Cutoffs must strictly increase (stricter than Exim, which silently never
    uses a rule hidden behind a larger cutoff).
    """
    if not isinstance(text, str):
        raise ConfigError(f"exim retry rules must be a string like 'F,2h,15m; F,4d,6h', got {text!r}")
    items = [item.strip() for item in text.split(";")]
    if items and not items[-1] and len(items) > 1:
        items.pop()  # trailing semicolon
    if not any(items):
        raise ConfigError(f"exim retry rules: empty rule list {text!r}")
    for index, item in enumerate(items, 1):
        if not item:
            raise ConfigError(f"exim retry rules {text!r}: rule {index} is empty")
    rules = tuple(_parse_one_rule(item, index) for index, item in enumerate(items, 1))
    _check_cutoffs(rules)
    return rules


DEFAULT_EXIM_RULES: tuple[EximRule, ...] = (
    EximRule(RuleKind.FIXED, 2 * 3600, 15 * 60),
    EximRule(RuleKind.GEOMETRIC, 16 * 3600, 3600, 1.5),
    EximRule(RuleKind.FIXED, 4 * 86400, 6 * 3600),
)  # Exim's default configure: "*  *  F,2h,15m; G,16h,1h,1.5; F,4d,6h"


@dataclass(frozen=True, slots=True)
class EximParams:
    """Exim defaults (spec "Retry configuration" and main options).

    ``queue_run_interval`` None = retry exactly at the hint; a number = queue runners pass at
    ``queue_run_start + k*interval`` and pick the message up at the first pass at or after the hint
    (``-q30m``). ``delay_warning`` is Exim's main option (default 24h; None = off).
    ``retry_data_expire``: a retry record not updated for this long is ignored.
    """

    rules: tuple[EximRule, ...] = field(default=DEFAULT_EXIM_RULES, metadata={"convert": parse_exim_rule})
    retry_interval_max: float = _duration_field(24 * HOUR)
    queue_run_interval: float | None = _optional_duration_field(None)
    queue_run_start: float = _duration_field(0.0)
    delay_warning: float | None = _optional_duration_field(24 * HOUR)
    retry_data_expire: float = _duration_field(7 * DAY)

    def __post_init__(self) -> None:
        where = "retry policy 'exim'"
        if not isinstance(self.rules, tuple) or not all(isinstance(r, EximRule) for r in self.rules):
            raise ConfigError(
                f"{where}: rules must be a tuple of EximRule or text like 'F,2h,15m; F,4d,6h', got {self.rules!r}"
            )
        _check_cutoffs(self.rules)
        if _number(where, "retry_interval_max", self.retry_interval_max) < 1:
            raise ConfigError(f"{where}: retry_interval_max must be >= 1 s, got {self.retry_interval_max!r}")
        _optional_positive(where, "queue_run_interval", self.queue_run_interval)
        _optional_positive(where, "delay_warning", self.delay_warning)
        _number(where, "queue_run_start", self.queue_run_start)
        _positive(where, "retry_data_expire", self.retry_data_expire)


@dataclass(frozen=True, slots=True)
class EximRecord:
    """A host retry record, in whole seconds (src/src/dbstuff.h, dbdata_retry)."""

    first_failed: int
    last_try: int
    next_try: int
    expired: bool = False


def _exim_rule_for(rules: tuple[EximRule, ...], failing: int) -> EximRule | None:
    """The first rule whose cutoff covers the failing interval (src/src/retry.c, retry_update)."""
    return next((rule for rule in rules if failing <= rule.cutoff), None)


def _exim_next_try(record: EximRecord, rule: EximRule, now: int, interval_max: int) -> int:
    """Exim's next retry time, integer arithmetic as src/src/retry.c (retry_update)."""
    if rule.kind is RuleKind.FIXED:
        gap = rule.p1
    else:
        last_predicted_gap = record.next_try - record.last_try
        last_actual_gap = now - record.last_try
        lastgap = min(last_predicted_gap, last_actual_gap)
        gap = rule.p1 if lastgap < rule.p1 else (lastgap * rule.p2) // 1000
    return now + min(gap, interval_max)  # "Impose a global retry max"


class EximPolicy(_NoDestinationHealth):
    """Exim: per-destination retry records, times measured from the destination's first failure.

    After a failure at ``now`` (whole seconds), the rule used is the first with
    ``now - first_failed <= cutoff``; F: next = now + p1; G: next = now + p1 while the last gap
    ``min(next_try - last_try, now - last_try)`` is below p1, else now + lastgap*factor; every gap
    <= retry_interval_max. No rule covers the failing time -> the address times out (give up).
    A message that arrived before the destination first failed also times out once it is older
    than the final cutoff (src/src/retry.c, retry_update). ``delivered`` deletes the record.

    Simplification: a host whose retry time has not come is not skipped for other messages
    (Exim's "retry time not reached"); each message's own deferral updates the shared record.
    """

    __slots__ = ("params", "_records")
    name: str = "exim"

    def __init__(self, params: EximParams | None = None) -> None:
        self.params = params if params is not None else EximParams()
        self._records: dict[str, EximRecord] = {}

    @property
    def delay_warning(self) -> float | None:
        return self.params.delay_warning

    def first_attempt(self, arrival: float) -> float:
        return arrival

    def retry_record(self, destination: str) -> EximRecord | None:
        """The destination's retry record, as ``exim_dumpdb retry`` would show it."""
        return self._records.get(destination)

    def _record_at(self, destination: str, now: int) -> EximRecord:
        record = self._records.get(destination)
        if record is None or now - record.last_try > self.params.retry_data_expire:
            return EximRecord(first_failed=now, last_try=now, next_try=now)
        return record

    def deferred(
        self,
        *,
        now: float,
        arrival: float,
        destination: str,
        null_sender: bool = False,
        attempt: int | None = None,
    ) -> Deferral:
        t = math.floor(now)
        record = self._record_at(destination, t)
        rules, interval_max = self.params.rules, int(self.params.retry_interval_max)
        failing = t - record.first_failed
        rule = _exim_rule_for(rules, failing)
        if rule is None:  # expired: next try from the final rule, for later messages
            self._records[destination] = EximRecord(
                record.first_failed, t, _exim_next_try(record, rules[-1], t, interval_max), True
            )
            return _give_up(self.name, now, arrival, f"no retry rule covers {format_duration(failing)}")
        received = math.floor(arrival)
        if received <= record.first_failed and t - received > rules[-1].cutoff:
            self._records[destination] = EximRecord(record.first_failed, t, t)
            return _give_up(self.name, now, arrival, "on queue longer than maximum retry")
        next_try = _exim_next_try(record, rule, t, interval_max)
        self._records[destination] = EximRecord(record.first_failed, t, next_try)
        return Deferral(self._queue_run_for(next_try), f"retry rule {rule}")

    def _queue_run_for(self, hint: int) -> float:
        interval = self.params.queue_run_interval
        if interval is None:
            return float(hint)
        return _grid_at_or_after(float(hint), self.params.queue_run_start, interval)

    def delivered(self, *, now: float, destination: str) -> None:
        self._records.pop(destination, None)


# --------------------------------------------------------------------------------------------------
# sendmail, fixed, exponential, RFC 5321


@dataclass(frozen=True, slots=True)
class SendmailParams:
    """sendmail: a queue run every ``q_interval`` (``-q30m``) from ``q_start``;
    Timeout.queuereturn (give up) and Timeout.queuewarn (delayed DSN; None or 0 = off)."""

    q_interval: float = _duration_field(30 * MINUTE)
    q_start: float = _duration_field(0.0)
    queuereturn: float = _duration_field(5 * DAY)
    queuewarn: float | None = _optional_duration_field(4 * HOUR)

    def __post_init__(self) -> None:
        where = "retry policy 'sendmail'"
        _positive(where, "q_interval", self.q_interval)
        _number(where, "q_start", self.q_start)
        _at_least(where, "queuereturn", self.queuereturn, 0)
        if self.queuewarn is not None:
            _at_least(where, "queuewarn", self.queuewarn, 0)


class SendmailPolicy(_SimplePolicy):
    """sendmail: a deferred message is retried at every queue run, the next one after ``now``."""

    __slots__ = ("params",)
    name: str = "sendmail"

    def __init__(self, params: SendmailParams | None = None) -> None:
        self.params = params if params is not None else SendmailParams()

    @property
    def delay_warning(self) -> float | None:
        return self.params.queuewarn or None

    def deferred(
        self,
        *,
        now: float,
        arrival: float,
        destination: str,
        null_sender: bool = False,
        attempt: int | None = None,
    ) -> Deferral:
        p = self.params
        if _expired(now, arrival, p.queuereturn):
            return _give_up(self.name, now, arrival, REASON_EXPIRED)
        return Deferral(_grid_after(now, p.q_start, p.q_interval), "queue run")


@dataclass(frozen=True, slots=True)
class FixedParams:
    """A constant retry interval."""

    interval: float = _duration_field(30 * MINUTE)
    lifetime: float = _duration_field(5 * DAY)
    delay_warning: float | None = _optional_duration_field(None)

    def __post_init__(self) -> None:
        where = "retry policy 'fixed'"
        _positive(where, "interval", self.interval)
        _at_least(where, "lifetime", self.lifetime, 0)
        _optional_positive(where, "delay_warning", self.delay_warning)


class FixedPolicy(_SimplePolicy):
    """Retry ``interval`` seconds after each failure; give up after ``lifetime``."""

    __slots__ = ("params",)
    name: str = "fixed"
    params: FixedParams | Rfc5321Params

    def __init__(self, params: FixedParams | None = None) -> None:
        self.params = params if params is not None else FixedParams()

    def deferred(
        self,
        *,
        now: float,
        arrival: float,
        destination: str,
        null_sender: bool = False,
        attempt: int | None = None,
    ) -> Deferral:
        if _expired(now, arrival, self.params.lifetime):
            return _give_up(self.name, now, arrival, REASON_EXPIRED)
        return Deferral(now + self.params.interval, REASON_BACKOFF)


@dataclass(frozen=True, slots=True)
class ExponentialParams:
    """``initial * factor**(n-1)`` capped at ``maximum``; ``jitter`` f spreads each gap uniformly
    over ``gap * (1 +- f)`` using the ``rng`` handed to the policy (0 <= f < 1)."""

    initial: float = _duration_field(300.0)
    factor: float = 2.0
    maximum: float = _duration_field(4 * HOUR)
    jitter: float = 0.0
    lifetime: float = _duration_field(5 * DAY)
    delay_warning: float | None = _optional_duration_field(None)

    def __post_init__(self) -> None:
        where = "retry policy 'exponential'"
        _positive(where, "initial", self.initial)
        _at_least(where, "factor", self.factor, 1)
        _positive(where, "maximum", self.maximum)
        _not_below(where, "maximum", self.maximum, "initial", self.initial)
        _at_least(where, "jitter", self.jitter, 0)
        if self.jitter >= 1:
            raise ConfigError(f"{where}: jitter must be < 1 (a fraction of the gap), got {self.jitter!r}")
        _at_least(where, "lifetime", self.lifetime, 0)
        _optional_positive(where, "delay_warning", self.delay_warning)


class ExponentialPolicy(_SimplePolicy):
    """The n-th retry comes ``initial * factor**(n-1)`` (capped) after the n-th failure.

    ``n`` is the ``attempt`` keyword of ``deferred``; without it, it is derived from the message's
    age as if every earlier retry had been on time.
    """

    __slots__ = ("params", "_rng")
    name: str = "exponential"

    def __init__(self, params: ExponentialParams | None = None, *, rng: random.Random | None = None) -> None:
        self.params = params if params is not None else ExponentialParams()
        if rng is not None and not isinstance(rng, random.Random):
            raise ConfigError(f"retry policy 'exponential': rng must be a random.Random, got {rng!r}")
        if self.params.jitter > 0 and rng is None:
            raise ConfigError(
                f"retry policy 'exponential': jitter={self.params.jitter!r} needs "
                "rng=random.Random(seed) (no module-level random)"
            )
        self._rng = rng

    def base_gap(self, n: int) -> float:
        """The gap after the n-th failure, before jitter."""
        p = self.params
        exponent = n - 1
        if p.factor > 1 and exponent * math.log(p.factor) >= math.log(p.maximum / p.initial):
            return p.maximum
        return min(p.initial * p.factor**exponent, p.maximum)

    def _attempt_from_age(self, age: float) -> int:
        n, scheduled = 1, self.base_gap(1)
        while scheduled <= age:
            n += 1
            scheduled += self.base_gap(n)
        return n

    def deferred(
        self,
        *,
        now: float,
        arrival: float,
        destination: str,
        null_sender: bool = False,
        attempt: int | None = None,
    ) -> Deferral:
        if attempt is not None and (isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1):
            raise ValueError(f"attempt must be an int >= 1 (1 = first failure), got {attempt!r}")
        if _expired(now, arrival, self.params.lifetime):
            return _give_up(self.name, now, arrival, REASON_EXPIRED)
        n = attempt if attempt is not None else self._attempt_from_age(now - arrival)
        gap = self.base_gap(n)
        if self._rng is not None and self.params.jitter > 0:
            gap *= 1 + self._rng.uniform(-self.params.jitter, self.params.jitter)
        return Deferral(now + gap, f"{REASON_BACKOFF} #{n}")


RFC5321_MIN_INTERVAL = 30 * MINUTE  # RFC 5321 section 4.5.4.1: "SHOULD be at least 30 minutes"
RFC5321_MIN_GIVE_UP = 4 * DAY  # ibid.: "the give-up time generally needs to be at least 4-5 days"


@dataclass(frozen=True, slots=True)
class Rfc5321Params:
    """RFC 5321 section 4.5.4.1: retry interval >= 30 min; give up after at least 4 days."""

    interval: float = _duration_field(RFC5321_MIN_INTERVAL)
    give_up_after: float = _duration_field(RFC5321_MIN_GIVE_UP)
    delay_warning: float | None = _optional_duration_field(None)

    def __post_init__(self) -> None:
        where = "retry policy 'rfc5321'"
        if _number(where, "interval", self.interval) < RFC5321_MIN_INTERVAL:
            raise ConfigError(f"{where}: interval must be >= 1800 s (RFC 5321 section 4.5.4.1), got {self.interval!r}")
        if _number(where, "give_up_after", self.give_up_after) < RFC5321_MIN_GIVE_UP:
            raise ConfigError(
                f"{where}: give_up_after must be >= 4 days = 345600 s "
                f"(RFC 5321 section 4.5.4.1), got {self.give_up_after!r}"
            )
        _optional_positive(where, "delay_warning", self.delay_warning)

    @property
    def lifetime(self) -> float:
        return self.give_up_after


class Rfc5321Policy(FixedPolicy):
    """The RFC's recommendation: a constant interval of at least 30 minutes, at least 4 days."""

    __slots__ = ()
    name: str = "rfc5321"

    def __init__(self, params: Rfc5321Params | None = None) -> None:
        self.params = params if params is not None else Rfc5321Params()


# --------------------------------------------------------------------------------------------------
# Registry


@dataclass(frozen=True, slots=True)
class _Entry:
    params_type: type
    build: Callable[[Any, random.Random | None], RetryPolicy]


_REGISTRY: Mapping[str, _Entry] = MappingProxyType(
    {
        "postfix": _Entry(PostfixParams, lambda p, rng: PostfixPolicy(p)),
        "exim": _Entry(EximParams, lambda p, rng: EximPolicy(p)),
        "sendmail": _Entry(SendmailParams, lambda p, rng: SendmailPolicy(p)),
        "fixed": _Entry(FixedParams, lambda p, rng: FixedPolicy(p)),
        "exponential": _Entry(ExponentialParams, lambda p, rng: ExponentialPolicy(p, rng=rng)),
        "rfc5321": _Entry(Rfc5321Params, lambda p, rng: Rfc5321Policy(p)),
    }
)

POLICY_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def _params_from(name: str, params_type: type, overrides: Mapping[str, object]) -> Any:
    known = {f.name: f for f in fields(params_type)}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ConfigError(
            f"retry policy {name!r}: unknown parameter(s) {', '.join(unknown)}; valid: {', '.join(known)}"
        )
    values = {}
    for param, value in overrides.items():
        convert = known[param].metadata.get("convert")
        if convert is not None and isinstance(value, str):
            try:
                value = convert(value)
            except ConfigError as err:
                raise ConfigError(f"retry policy {name!r}: {param}: {err}") from None
        values[param] = value
    return params_type(**values)


def make_policy(name: str, *, rng: random.Random | None = None, **overrides: object) -> RetryPolicy:
    """A fresh retry policy by name, with parameters overridden by keyword.

    Durations are float seconds, or text such as ``"5d"`` / ``"1h30m"``; Exim ``rules`` may be
    given as text (``"F,2h,15m; F,4d,6h"``). ``rng`` is used by policies that draw random numbers
    (``exponential`` with jitter) and ignored by the others, so callers may always pass their
    per-run sub-stream.
    """
    entry = _REGISTRY.get(name) if isinstance(name, str) else None
    if entry is None:
        raise UnknownPolicyError(f"unknown retry policy {name!r}; valid: {', '.join(POLICY_NAMES)}")
    return entry.build(_params_from(name, entry.params_type, overrides), rng)


# --------------------------------------------------------------------------------------------------
# A tiny driver, for tests and teaching


class Outcome(Enum):
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    PENDING = "pending"  # still queued at the horizon


@dataclass(frozen=True, slots=True)
class Schedule:
    """The life of one message under a policy.

    ``attempts``: start times of connection attempts; ``skipped``: times the message was deferred
    without a connection because the destination was suspended; ``finished_at``: when the final
    attempt (or skip) ended with delivery or bounce, None while pending; ``reason``: of the last
    deferral.
    """

    attempts: tuple[float, ...]
    skipped: tuple[float, ...]
    outcome: Outcome
    finished_at: float | None
    reason: str

    @property
    def intervals(self) -> tuple[float, ...]:
        return tuple(b - a for a, b in zip(self.attempts, self.attempts[1:], strict=False))


def simulate_schedule(
    policy: RetryPolicy,
    fails_until: float,
    attempt_duration: float,
    horizon: float,
    *,
    arrival: float = 0.0,
    destination: str = "example.net",
    null_sender: bool = False,
) -> Schedule:
    """Play one message against a destination that fails every attempt started before ``fails_until``.

    An attempt started at ``t`` ends at ``t + attempt_duration`` (e.g. 0.002 for a refused
    connection, 30.0 for a silent drop with a 30 s connect timeout); a failure counts as a connection
    failure. No attempt starts after ``horizon``. The policy is used as a queue manager would,
    including its destination-health hooks, so hand it a fresh policy: one left from an earlier
    run still remembers that run's destination state.
    """
    attempts: list[float] = []
    skipped: list[float] = []
    t, reason, deferrals = policy.first_attempt(arrival), "", 0
    while t <= horizon:
        deferrals += 1
        end = t
        if policy.suspended_until(now=t, destination=destination) is not None:
            skipped.append(t)
        else:
            attempts.append(t)
            end = t + attempt_duration
            if t >= fails_until:
                policy.connection_succeeded(now=end, destination=destination)
                policy.delivered(now=end, destination=destination)
                return Schedule(tuple(attempts), tuple(skipped), Outcome.DELIVERED, end, reason)
            policy.connection_failed(now=end, destination=destination)
        deferral = policy.deferred(
            now=end, arrival=arrival, destination=destination, null_sender=null_sender, attempt=deferrals
        )
        reason = deferral.reason
        if deferral.retry_at is None:
            return Schedule(tuple(attempts), tuple(skipped), Outcome.BOUNCED, end, reason)
        t = deferral.retry_at
    return Schedule(tuple(attempts), tuple(skipped), Outcome.PENDING, None, reason)
