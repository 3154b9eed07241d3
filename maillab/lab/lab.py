"""The Lab: a whole simulated mail world built in code, run, and read back as tidy tables.

    lab = Lab(seed=1)
    lab.add_host("mx.b.example")                 # every host runs an MTA; keywords are MtaConfig fields
    lab.add_host("out.a.example", retry="exim")
    lab.add_link("out.a.example", "mx.b.example", latency=0.010)
    lab.add_domain("a.example", mx="out.a.example", users=["alice"])
    lab.add_domain("b.example", mx="mx.b.example", users=["bob"])
    lab.send(at=0, sender="alice@a.example", recipients=["bob@b.example"], size=2000)
    lab.fail("mx.b.example", "refuse", start=0, end=7500)
    lab.run(until=86400)
    lab.messages, lab.attempts, lab.transcript, lab.queue, lab.connections   # pandas DataFrames

Hosts, domains, messages and failures are declared first; the world is built on the first ``run``. The
lowest-preference MX hosts of a domain hold its mailboxes (several at the same preference act as a cluster
over shared storage); MX hosts of worse preference relay for it (backup MX).
All randomness comes from one seed, split into named streams (``Streams``).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import simpy

from maillab.errors import ConfigError
from maillab.lab import tables
from maillab.lab.failures import FAILURE_KINDS, Failure, find_overlap, schedule_failures
from maillab.mta import message as M
from maillab.mta.behaviours import Behaviour
from maillab.mta.mta import MTA, MtaConfig
from maillab.mta.records import Injected, Recorder, TranscriptMode
from maillab.net import Network
from maillab.smtp import is_mailbox

log = logging.getLogger(__name__)


class Streams:
    """Named, independent random streams derived from one seed (string seeding is platform-stable)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._streams: dict[str, random.Random] = {}

    def __getitem__(self, name: str) -> random.Random:
        if name not in self._streams:
            self._streams[name] = random.Random(f"maillab/{self.seed}/{name}")
        return self._streams[name]


@dataclass(slots=True)
class _HostSpec:
    name: str
    address: str | None
    settings: dict[str, Any]
    behaviours: list[Behaviour]


@dataclass(slots=True)
class _DomainSpec:
    name: str
    mx: dict[str, int]
    users: list[str]
    accept_any_user: bool


@dataclass(frozen=True, slots=True)
class _Send:
    at: float
    sender: str
    recipients: tuple[str, ...]
    via: str
    size: int
    subject: str
    message_id: str


@dataclass(slots=True)
class Lab:
    """A mail lab: declare it, run it, read its tables."""

    seed: int = 0
    transcript_mode: str = "commands"
    duration: float | None = None  # the run length a lab file asks for (run() with no until uses it)
    warmup: float = 0.0  # messages created before this are left out of summary()
    description: str = ""
    roles: dict[str, str] = field(default_factory=dict)  # host -> client | submission | relay | mx
    spells: list[tuple[str, Any, float, float]] = field(default_factory=list)  # realised flapping outages
    streams: Streams = field(init=False)
    env: simpy.Environment = field(init=False)
    network: Network = field(init=False)
    recorder: Recorder = field(init=False)
    mtas: dict[str, MTA] = field(init=False, default_factory=dict)
    _hosts: dict[str, _HostSpec] = field(init=False, default_factory=dict)
    _links: list[tuple[str, str, dict[str, Any]]] = field(init=False, default_factory=list)
    _routers: list[str] = field(init=False, default_factory=list)
    _domains: dict[str, _DomainSpec] = field(init=False, default_factory=dict)
    _sends: list[_Send] = field(init=False, default_factory=list)
    _failures: list[Failure] = field(init=False, default_factory=list)
    _built: bool = field(init=False, default=False)
    _bodies: M.BodyMaker | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"lab seed must be an integer, got {self.seed!r}")
        try:
            mode = TranscriptMode(self.transcript_mode)
        except ValueError:
            raise ConfigError(f"transcript must be one of off, commands, full; got {self.transcript_mode!r}") from None
        self.streams = Streams(self.seed)
        self.env = simpy.Environment()
        self.network = Network(self.env, self.streams["network"])
        self.recorder = Recorder(mode)

    # --- declaring ------------------------------------------------------------------------------------------

    def add_host(self, name: str, address: str | None = None, behaviours: Iterable[Behaviour] = (),
                 **settings: Any) -> None:
        """A host running an MTA; ``settings`` are ``MtaConfig`` fields (retry="exim", spool="volatile", …)."""
        self._not_built("add_host")
        if name in self._hosts or name in self._routers:
            raise ConfigError(f"host {name!r} is declared twice")
        unknown = set(settings) - set(MtaConfig.__dataclass_fields__) | ({"hostname"} & set(settings))
        if unknown:
            raise ConfigError(f"host {name}: unknown MTA setting(s) {sorted(unknown)}; "
                              f"known: {sorted(set(MtaConfig.__dataclass_fields__) - {'hostname'})}")
        self._hosts[name] = _HostSpec(name, address, dict(settings), list(behaviours))

    def add_router(self, name: str) -> None:
        self._not_built("add_router")
        self._routers.append(name)

    def add_link(self, a: str, b: str, latency: float, bandwidth: float | None = None, loss: float = 0.0,
                 jitter: Any = None) -> None:
        """A link between two hosts or routers (one-way latency in seconds, bandwidth in octets/s)."""
        self._not_built("add_link")
        self._links.append((a, b, {"latency": latency, "bandwidth": bandwidth, "loss": loss, "jitter": jitter}))

    def add_domain(self, name: str, mx: str | Mapping[str, int] | Sequence[str], users: Iterable[str] = (),
                   accept_any_user: bool = False) -> None:
        """A mail domain: its MX hosts (name, list in preference order, or {host: preference}) and users."""
        self._not_built("add_domain")
        if isinstance(mx, str):
            exchangers = {mx: 10}
        elif isinstance(mx, Mapping):
            exchangers = dict(mx)
        else:
            exchangers = {host: 10 * (i + 1) for i, host in enumerate(mx)}
        if not exchangers:
            raise ConfigError(f"domain {name}: needs at least one MX host")
        locals_ = [u.split("@")[0] for u in users]
        self._domains[name.lower()] = _DomainSpec(name.lower(), exchangers, locals_, accept_any_user)

    def send(self, at: float, sender: str, recipients: Sequence[str] | str, via: str | None = None,
             size: int = 1000, subject: str = "maillab test message") -> str:
        """Submit a message at time ``at`` on host ``via`` (default: the sender domain's mailbox host).
        Returns its Message-ID, the key of every record about it."""
        rcpts = (recipients,) if isinstance(recipients, str) else tuple(recipients)
        self._check_send(at, sender, rcpts, size)
        if len(subject.splitlines()) > 1 or subject.endswith(("\r", "\n")):
            raise ConfigError(f"send(): subject {subject!r} must be one line")
        host = via or self._home_of(sender)
        message_id = f"m{len(self._sends) + 1:06d}.s{self.seed}@maillab"
        self._sends.append(_Send(float(at), sender, rcpts, host, size, subject, message_id))
        if self._built:
            self._schedule_send(self._sends[-1])
        return message_id

    def fail(self, target: Any, kind: str, start: float, end: float | None = None,
             **options: Any) -> None:
        """Schedule a failure: kinds are ``refuse`` (daemon stopped), ``down`` (silent), ``crash``,
        ``link`` (target is a pair of nodes), ``dns`` (target is a domain or "*"), ``flapping`` (a host or
        a pair; options mtbf, mttr), ``partition`` (options groups), ``not_willing`` (option code),
        ``disk_full``. See ``maillab.lab.failures``."""
        self._not_built("fail")
        if kind not in FAILURE_KINDS:
            raise ConfigError(f"failure kind {kind!r} is unknown; known: {', '.join(FAILURE_KINDS)}")
        if start < 0 or (end is not None and end <= start):
            raise ConfigError(f"failure {kind} on {target}: needs 0 <= start < end, got {start}..{end}")
        if kind == "flapping" and not (options.get("mtbf", 0) > 0 and options.get("mttr", 0) > 0):
            raise ConfigError(f"flapping failure on {target}: needs mtbf > 0 and mttr > 0")
        if kind == "partition" and len(options.get("groups") or []) < 2:
            raise ConfigError("partition failure: needs groups=[[nodes…], [nodes…]] (two or more)")
        self._failures.append(Failure(kind, target, float(start), None if end is None else float(end), options))

    # --- running --------------------------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str, seed: int | None = None, overrides: Mapping[str, Any] | None = None) -> Lab:
        """The lab a YAML file describes (docs/topology-format.md), built and ready to ``run()``."""
        from maillab.lab.builder import build_lab
        from maillab.lab.loader import load_spec

        return build_lab(load_spec(path, overrides), seed)

    def run(self, until: float | None = None) -> Lab:
        """Build the world if needed and run it to simulated time ``until`` (None: the lab's ``duration``,
        or until nothing is left to do)."""
        self.build()
        until = self.duration if until is None else until
        if until is not None and until < self.env.now:
            raise ConfigError(f"run(until={until}) is before the current time {self.env.now}")
        with _rarer_young_collections():
            self.env.run(until=until)
        return self

    @property
    def now(self) -> float:
        return float(self.env.now)

    @property
    def planned(self) -> tuple[int, int]:
        """How many messages and failures are declared (sent or not yet)."""
        return len(self._sends), len(self._failures)

    def build(self) -> None:
        if self._built:
            return
        self._check_failures_apart()
        self._built = True
        for router in self._routers:
            self.network.add_router(router)
        for spec in self._hosts.values():
            self.network.add_host(spec.name, spec.address)
        for a, b, params in self._links:
            self.network.add_link(a, b, **params)
        self._build_dns()
        homes: dict[str, list[_DomainSpec]] = {}
        backups: dict[str, list[str]] = {}
        for domain in self._domains.values():
            best = _homes(domain)
            for host in domain.mx:
                if host in best:
                    homes.setdefault(host, []).append(domain)
                else:
                    backups.setdefault(host, []).append(domain.name)
        for spec in self._hosts.values():
            self.mtas[spec.name] = self._build_mta(spec, homes.get(spec.name, []), backups.get(spec.name, []))
        for send in self._sends:
            self._schedule_send(send)
        schedule_failures(self, self._failures)  # after the declared sends: at one instant, those come first
        # (a send added after build is scheduled after the failures: at the same instant it comes second)

    def _check_failures_apart(self) -> None:
        """Two failures that switch off the same host or link must not overlap in time (a lab file gets
        the same check, with its line, from the loader)."""
        overlap = find_overlap(self._failures, [(a, b) for a, b, _ in self._links])
        if overlap is not None:
            index, other, element = overlap
            late, early = self._failures[index], self._failures[other]
            raise ConfigError(
                f"failure {late.kind} on {late.target} ({late.start:g}..{_end_text(late.end)} s) overlaps failure "
                f"{early.kind} on {early.target} ({early.start:g}..{_end_text(early.end)} s) on the same "
                f"{element}: two failures of one element cannot be active at once")

    # --- results --------------------------------------------------------------------------------------------

    @property
    def messages(self) -> Any:
        return tables.messages(self)

    @property
    def attempts(self) -> Any:
        return tables.attempts(self)

    @property
    def transcript(self) -> Any:
        return tables.transcript(self)

    @property
    def queue(self) -> Any:
        return tables.queue(self)

    @property
    def connections(self) -> Any:
        return tables.connections(self)

    @property
    def sessions(self) -> Any:
        return tables.sessions(self)

    @property
    def failures(self) -> Any:
        return tables.failures(self)

    def summary(self) -> dict[str, float]:
        return tables.summary(self)

    def check_conservation(self) -> None:
        """Raise if any injected message-recipient is neither delivered, bounced, lost nor still queued."""
        tables.check_conservation(self)

    def mailbox(self, address: str) -> list[bytes]:
        """The messages in a user's mailbox, as stored (wire form with Return-Path)."""
        domain = self._domains.get(address.rpartition("@")[2].lower())
        if domain is None:
            raise ConfigError(f"no mailbox {address}: domain not declared")
        stored = [m for host in _homes(domain) for m in self.mtas[host].mailboxes.messages(address)]
        return [m.content for m in sorted(stored, key=lambda m: m.time)]

    # --- helpers --------------------------------------------------------------------------------------------

    def _not_built(self, what: str) -> None:
        if self._built:
            raise ConfigError(f"{what}(): the lab is already built (declare everything before run())")

    def _check_send(self, at: float, sender: str, recipients: tuple[str, ...], size: int) -> None:
        if at < 0 or (self._built and at < self.env.now):
            raise ConfigError(f"send(at={at}): time must be >= 0 and not in the past")
        if sender and not is_mailbox(sender):
            raise ConfigError(f"send(): sender {sender!r} is not an address like user@domain")
        if not recipients or any(not is_mailbox(r) for r in recipients):
            raise ConfigError(f"send(): recipients {list(recipients)!r} must be addresses like user@domain")
        if size < 0:
            raise ConfigError(f"send(): size must be >= 0, got {size}")

    def _home_of(self, sender: str) -> str:
        domain = self._domains.get(sender.rpartition("@")[2].lower())
        if domain is None:
            raise ConfigError(f"send(): sender domain of {sender!r} is not declared; pass via= to say which host")
        return _home(domain)

    def _build_dns(self) -> None:
        for domain in self._domains.values():
            for host, preference in domain.mx.items():
                if host not in self._hosts:
                    raise ConfigError(f"domain {domain.name}: MX host {host!r} is not a declared host")
                self.network.dns.add_mx(domain.name, host, preference)

    def _build_mta(self, spec: _HostSpec, home: list[_DomainSpec], backup: list[str]) -> MTA:
        """The MTA of a host: local domains are those it is a best MX of; it relays for the others."""
        settings = dict(spec.settings)
        settings.setdefault("local_domains", frozenset(d.name for d in home))
        settings.setdefault("users", frozenset(f"{u}@{d.name}" for d in home for u in d.users))
        settings.setdefault("accept_any_user", any(d.accept_any_user for d in home))
        settings.setdefault("relay_domains", frozenset(backup))
        for key in ("local_domains", "users", "relay_domains"):
            settings[key] = frozenset(settings[key])
        settings["relay_clients"] = tuple(settings.get("relay_clients", ()))
        config = MtaConfig(hostname=spec.name, **settings)
        rng = self.streams[f"mta/{spec.name}"]
        return MTA(self.env, self.network, self.network.host(spec.name), config, self.recorder, rng, spec.behaviours)

    def _schedule_send(self, send: _Send) -> None:
        if send.via not in self._hosts:
            raise ConfigError(f"send(): host {send.via!r} is not declared")
        timer = self.env.timeout(max(0.0, send.at - self.env.now))
        timer.callbacks.append(lambda _: self._inject(send))

    def _inject(self, send: _Send) -> None:
        if self._bodies is None:
            self._bodies = M.BodyMaker(self.streams["content"])
        body = self._bodies.body(send.size)
        content = M.message_bytes(send.message_id, send.sender, send.recipients, send.subject, body, self.env.now,
                                  plain_body=True)
        self.recorder.injected.append(Injected(self.env.now, send.message_id, send.sender, send.recipients,
                                               len(content), send.via))
        self.mtas[send.via].submit(send.sender, send.recipients, content)


def _homes(domain: _DomainSpec) -> list[str]:
    """The mailbox hosts of a domain: its MX hosts of the lowest preference."""
    best = min(domain.mx.values())
    return [host for host, preference in domain.mx.items() if preference == best]


def _home(domain: _DomainSpec) -> str:
    return _homes(domain)[0]


def _end_text(end: float | None) -> str:
    return "end of run" if end is None else f"{end:g}"


#: The young-generation threshold of the cyclic garbage collector while a lab runs (Python's default: 700).
RUN_GC_THRESHOLD = 50_000


@contextlib.contextmanager
def _rarer_young_collections() -> Iterator[None]:
    """Run with the collector's young-generation threshold raised, and restore it after (even on error).

    A run allocates and frees millions of short-lived objects and leaves no reference cycles behind
    (tests/mta/test_no_cycles.py), so a young collection every 700 allocations only walks live sessions
    and pushes the growing records toward ever longer full collections. Collections still happen, less
    often: anything cyclic made meanwhile (by other code in the process) is still freed.
    """
    before = gc.get_threshold()
    if before[0] == 0:  # collection switched off by the caller: leave it so
        yield
        return
    gc.set_threshold(max(before[0], RUN_GC_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
