"""A tiny authoritative DNS for the lab: A and MX records, implicit MX, outages.

Lookups are instantaneous (no simulated latency) and synchronous: ``resolve_mx`` and ``resolve_a`` return
or raise at once. Names are case-insensitive and a trailing dot is ignored.

MX resolution (RFC 5321 §5.1):

- the domain has MX records: they are returned sorted by preference, equal preferences in the order they
  were added (NOT shuffled: randomising equal preferences is the caller's job), each with the exchange's
  address from its A record, or ``None`` when the exchange has no A record (a dangling MX);
- the domain exists without MX records: the implicit MX, the domain itself with preference 0 and its own
  address; a domain with neither MX nor A record yields ``[]`` (no way to deliver: the caller bounces);
- the domain does not exist: ``NXDomain`` (permanent);
- during an outage (``fail()``..``restore()``, or a window ``outage(start, end)``, optionally limited to
  one domain and its subdomains): ``DNSTempFail`` (temporary) for every lookup it covers.

A name exists once it has an A record (hosts get one under their own name), an MX record, or was added
with ``add_domain``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import simpy

from maillab.errors import ConfigError
from maillab.net import validate
from maillab.net.errors import DNSTempFail, NXDomain

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MXRecord:
    """One mail exchanger of a domain, with the exchange's address (None if it has no A record)."""

    preference: int
    exchange: str
    address: str | None


@dataclass(frozen=True, slots=True)
class Outage:
    """A window [start, end) in which lookups fail temporarily; ``domain`` None means every lookup."""

    start: float
    end: float
    domain: str | None = None

    def covers(self, now: float, name: str) -> bool:
        if not self.start <= now < self.end:
            return False
        return self.domain is None or name == self.domain or name.endswith("." + self.domain)


class DNS:
    """A and MX records plus outages; owned by ``Network`` (``network.dns``)."""

    __slots__ = ("env", "_a", "_mx", "_domains", "_outages", "_failed")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self._a: dict[str, str] = {}
        self._mx: dict[str, list[tuple[int, str]]] = {}
        self._domains: set[str] = set()
        self._outages: list[Outage] = []
        self._failed = False

    # -- records ---------------------------------------------------------------------------------------
    def add_a(self, name: str, address: str) -> None:
        """Give ``name`` the address ``address`` (one address per name)."""
        key = validate.dns_name(name, "DNS A record name")
        addr = validate.address(address, f"DNS A record {key}: address")
        if self._a.get(key, addr) != addr:
            raise ConfigError(f"DNS A record {key}: already {self._a[key]}, cannot also be {addr}")
        self._a[key] = addr
        self._domains.add(key)

    def add_mx(self, domain: str, exchange: str, preference: int) -> None:
        """Add an MX record: mail for ``domain`` goes to ``exchange`` (lower preference first)."""
        key = validate.dns_name(domain, "DNS MX domain")
        target = validate.dns_name(exchange, f"DNS MX {key}: exchange")
        if isinstance(preference, bool) or not isinstance(preference, int) or not 0 <= preference <= 65535:
            raise ConfigError(f"DNS MX {key} -> {target}: preference must be an integer 0..65535, got {preference!r}")
        self._mx.setdefault(key, []).append((preference, target))
        self._domains.add(key)

    def add_domain(self, domain: str, address: str | None = None) -> None:
        """Declare that ``domain`` exists (with an A record when ``address`` is given)."""
        key = validate.dns_name(domain, "DNS domain")
        self._domains.add(key)
        if address is not None:
            self.add_a(key, address)

    # -- outages ---------------------------------------------------------------------------------------
    def outage(self, start: float, end: float, domain: str | None = None) -> None:
        """Make lookups (of ``domain`` and below, or all) fail temporarily during [start, end)."""
        where = f"DNS outage {domain or '(all)'}"
        begin = validate.nonneg_finite(start, f"{where}: start")
        if not isinstance(end, int | float) or isinstance(end, bool) or not end > begin:
            raise ConfigError(f"{where}: end must be a number > start ({begin}), got {end!r}")
        scope = None if domain is None else validate.dns_name(domain, f"{where}: domain")
        self._outages.append(Outage(begin, float(end), scope))

    def fail(self) -> None:
        """Start an open-ended outage of every lookup (until ``restore()``)."""
        logger.info("t=%.6f DNS fails", self.env.now)
        self._failed = True

    def restore(self) -> None:
        """End the outage started by ``fail()`` (scheduled windows are unaffected)."""
        logger.info("t=%.6f DNS restored", self.env.now)
        self._failed = False

    def available(self, name: str = "") -> bool:
        """False while a lookup of ``name`` would fail temporarily."""
        key = name.rstrip(".").lower()
        now = self.env.now
        return not (self._failed or any(outage.covers(now, key) for outage in self._outages))

    # -- lookups ---------------------------------------------------------------------------------------
    def resolve_a(self, name: str) -> str:
        """The address of ``name``; NXDomain if it has none, DNSTempFail during an outage."""
        key = self._lookup_key(name, "A")
        try:
            return self._a[key]
        except KeyError:
            what = "no A record" if key in self._domains else "no such name"
            raise NXDomain(f"DNS A {key}: {what}") from None

    def resolve_mx(self, domain: str) -> list[MXRecord]:
        """The mail exchangers of ``domain`` by preference (explicit MX, else implicit MX, RFC 5321 §5.1)."""
        key = self._lookup_key(domain, "MX")
        records = self._mx.get(key)
        if records:
            ordered = sorted(records, key=lambda record: record[0])
            return [MXRecord(pref, exchange, self._a.get(exchange)) for pref, exchange in ordered]
        if key in self._domains:
            address = self._a.get(key)
            return [MXRecord(0, key, address)] if address is not None else []
        raise NXDomain(f"DNS MX {key}: no such domain")

    def _lookup_key(self, name: str, kind: str) -> str:
        key = validate.dns_name(name, f"DNS {kind} lookup")
        if not self.available(key):
            raise DNSTempFail(f"DNS {kind} {key}: temporary failure (t={self.env.now:g}, resolver outage)")
        return key
