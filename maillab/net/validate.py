"""Parameter checks that raise ``ConfigError`` naming what was wrong and where."""

from __future__ import annotations

import ipaddress
import math
from typing import Any

from maillab.errors import ConfigError


def nonneg_finite(value: Any, what: str) -> float:
    """A finite number >= 0 (latency, lookup delay)."""
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{what} must be a finite number >= 0, got {value!r}")
    return float(value)


def positive(value: Any, what: str) -> float:
    """A number > 0 (timeout, RTO, bandwidth); infinity is allowed."""
    if not _is_number(value) or math.isnan(value) or value <= 0:
        raise ConfigError(f"{what} must be a number > 0, got {value!r}")
    return float(value)


def positive_or_none(value: Any, what: str) -> float | None:
    """A number > 0, or None (infinite bandwidth, no timeout)."""
    if value is None:
        return None
    if not _is_number(value) or math.isnan(value) or value <= 0:
        raise ConfigError(f"{what} must be a number > 0 or None, got {value!r}")
    return float(value)


def probability(value: Any, what: str) -> float:
    """A loss probability in [0, 1): 1 would retransmit forever."""
    if not _is_number(value) or not 0.0 <= value < 1.0:
        raise ConfigError(f"{what} must be a probability in [0, 1), got {value!r}")
    return float(value)


def port(value: Any, what: str) -> int:
    """A TCP port 1..65535."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(f"{what} must be an integer port 1..65535, got {value!r}")
    return value


def name(value: Any, what: str) -> str:
    """A non-empty string name."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{what} must be a non-empty string, got {value!r}")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def address(value: Any, what: str) -> str:
    """An IPv4 or IPv6 address, returned in canonical form."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ConfigError(f"{what} must be an IPv4 or IPv6 address, got {value!r}") from None


def dns_name(value: Any, what: str) -> str:
    """A domain or host name, lower-cased, without a trailing dot (DNS names are case-insensitive)."""
    text = name(value, what).strip().rstrip(".").lower()
    if not text or any(ch.isspace() for ch in text):
        raise ConfigError(f"{what} must be a domain name, got {value!r}")
    return text
