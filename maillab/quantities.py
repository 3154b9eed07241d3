"""Quantities as people write them in lab files and on the command line.

    duration   "30s" "5m" "2h" "4d" "1h30m" "250ms", or a bare number of seconds
    size       "2000" "2k" "10M" "64KiB" (k/M/G are 1000-based; KiB/MiB/GiB 1024-based), octets
    rate       "1/s" "60/h" "0.5/min" "2000/d", events per second
    bandwidth  "10Mbit/s" "100kbit/s" "1MB/s", or a bare number of octets per second

Each parser takes a number or a string and raises ``ValueError`` with a message saying what was expected.
Standard library only.
"""

from __future__ import annotations

import re

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|min|s|m|h|d|w)")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB|k|K|M|G|B)?$")
_SIZE_UNITS = {None: 1, "B": 1, "k": 1000, "K": 1000, "M": 10**6, "G": 10**9, "KiB": 1024, "MiB": 1024**2,
               "GiB": 1024**3}
_RATE = re.compile(r"^(\d+(?:\.\d+)?)\s*/\s*(ms|s|sec|min|m|h|d)$")
_BANDWIDTH = re.compile(r"^(\d+(?:\.\d+)?)\s*(k|M|G)?(bit|B)/s$")
_PREFIX = {None: 1, "k": 1000, "M": 10**6, "G": 10**9}

DURATION_HINT = "a duration like 30s, 5m, 2h, 4d, 1h30m or a number of seconds"
SIZE_HINT = "a size like 2000, 2k, 10M or 64KiB"
RATE_HINT = "a rate like 1/s, 60/h or 0.5/min"
BANDWIDTH_HINT = "a bandwidth like 10Mbit/s, 1MB/s or a number of octets per second"


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def parse_duration(value: object) -> float:
    number = _number(value)
    if number is not None:
        return number
    text = str(value).strip()
    if not text or _DURATION_PART.sub("", text).strip():
        raise ValueError(f"{value!r} is not {DURATION_HINT}")
    return sum(float(amount) * _DURATION_UNITS[unit] for amount, unit in _DURATION_PART.findall(text))


def parse_size(value: object) -> int:
    number = _number(value)
    if number is not None:
        return int(number)
    match = _SIZE.match(str(value).strip())
    if match is None:
        raise ValueError(f"{value!r} is not {SIZE_HINT}")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


def parse_rate(value: object) -> float:
    number = _number(value)
    if number is not None:
        return number
    match = _RATE.match(str(value).strip())
    if match is None:
        raise ValueError(f"{value!r} is not {RATE_HINT}")
    per = {"ms": 0.001, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "d": 86400.0}[match.group(2)]
    return float(match.group(1)) / per


def parse_bandwidth(value: object) -> float:
    number = _number(value)
    if number is not None:
        return number
    match = _BANDWIDTH.match(str(value).strip())
    if match is None:
        raise ValueError(f"{value!r} is not {BANDWIDTH_HINT}")
    octets = float(match.group(1)) * _PREFIX[match.group(2)]
    return octets / 8 if match.group(3) == "bit" else octets
