"""The delivery agent: one attempt of one queued message to one destination, across its MX hosts.

Steps of an attempt (RFC 5321 §5.1; Postfix ``src/smtp/smtp_connect.c``, ``smtp_trouble.c``):
1. the exchangers: the relay host if one is set, else the domain's MX records, lower preference first,
   **equal preferences in seeded random order**; when this host is itself an MX of the domain, records of
   equal or worse preference are dropped (and none left means the mail loops back: 5.4.6); at most
   ``mx_address_limit`` of them. NXDOMAIN bounces (5.1.2); a temporary DNS failure defers (4.4.3).
2. each exchanger in turn: connect (refused or timed out: next), greet and EHLO, send the transaction.
   Error classes differ by MTA (``ErrorClass``): Postfix treats a failed greeting or EHLO as soft and goes
   on to the next MX; Exim fails the recipients on a 5xx greeting or EHLO. Both bounce recipients refused
   with 5xx, carry 4xx recipients to the next MX, and defer what is left after the last one.
3. a session that is still open is left in the caller's ``SessionCache`` for the next message.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Generator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import simpy

from maillab.mta.records import Attempt, Recorder
from maillab.mta.retry import RetryPolicy
from maillab.mta.smtp_client import ClientSession
from maillab.net import ConnectRefused, ConnectTimeout, DNSTempFail, Host, MXRecord, Network, NXDomain
from maillab.smtp import ClientConfig, Reply, Status, Transaction, TransactionResult

log = logging.getLogger(__name__)


class ErrorClass(Enum):
    POSTFIX = "postfix"
    EXIM = "exim"


def connect_refused(mx: str, address: str) -> Reply:
    return Reply(451, "4.4.1", f"connect to {mx}[{address}]:25: Connection refused")


def connect_timed_out(mx: str, address: str) -> Reply:
    return Reply(451, "4.4.1", f"connect to {mx}[{address}]:25: Connection timed out")


def domain_not_found(domain: str) -> Reply:
    return Reply(550, "5.1.2", f"Host or domain name not found. Name service error for name={domain} type=MX")


def dns_temporary(domain: str) -> Reply:
    return Reply(451, "4.4.3", f"Host or domain name not found. Name service error for name={domain}: try again")


def no_exchanger(domain: str) -> Reply:
    return Reply(550, "5.4.4", f"Host or domain name not found: {domain} has no usable MX or address")


def loops_back(domain: str) -> Reply:
    return Reply(554, "5.4.6", f"mail for {domain} loops back to myself")


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    hostname: str
    error_class: ErrorClass = ErrorClass.POSTFIX
    relayhost: str | None = None
    connect_timeout: float = 30.0  # smtp_connect_timeout
    mx_address_limit: int = 5  # smtp_mx_address_limit
    mx_session_limit: int = 2  # smtp_mx_session_limit
    client: ClientConfig = field(default_factory=ClientConfig)


@dataclass(slots=True, eq=False)
class Job:
    """A queued message's recipients for one destination: what one attempt tries to deliver."""

    message_id: str
    queue_id: str
    sender: str
    content: bytes
    arrival: float
    destination: str  # next-hop key: the recipients' domain, or the relay host
    domain: str
    recipients: list[str]
    attempts: int = 0
    last_reply: dict[str, Reply] = field(default_factory=dict)
    warned: bool = False


@dataclass(slots=True)
class Outcome:
    """What one attempt decided, recipient by recipient; while it runs, also where it is (so that a crash
    of this host can settle what was already decided and record where the attempt was cut short)."""

    delivered: list[str] = field(default_factory=list)
    bounced: list[tuple[str, Reply, str | None]] = field(default_factory=list)
    deferred: list[tuple[str, Reply, str | None]] = field(default_factory=list)
    connected: bool = False
    started: float = 0.0
    trying: str | None = None  # the exchanger being tried
    session: ClientSession | None = None  # the session carrying the transaction, while it does

    def settled(self) -> set[str]:
        """Recipients this attempt has finished with: delivered or refused for good."""
        return {*self.delivered, *(rcpt for rcpt, _, _ in self.bounced)}


class SessionCache:
    """Open, idle SMTP sessions by exchanger name, kept between messages of one destination."""

    def __init__(self) -> None:
        self._sessions: dict[str, ClientSession] = {}

    def take(self, mx: str) -> ClientSession | None:
        session = self._sessions.pop(mx, None)
        return session if session is not None and session.usable else None

    def keep(self, mx: str, session: ClientSession) -> None:
        if session.usable:
            self._sessions[mx] = session

    def close_all(self) -> None:
        for session in self._sessions.values():
            session.quit()
        self._sessions.clear()


class DeliveryAgent:
    """Makes delivery attempts from one host."""

    def __init__(
        self,
        env: simpy.Environment,
        network: Network,
        host: Host,
        config: DeliveryConfig,
        policy: RetryPolicy,
        recorder: Recorder,
        rng: random.Random,
    ) -> None:
        self.env, self.network, self.host, self.config = env, network, host, config
        self.policy, self.recorder, self.rng = policy, recorder, rng

    def attempt(
        self, job: Job, cache: SessionCache, outcome: Outcome | None = None
    ) -> Generator[simpy.Event, Any, Outcome]:
        """Try every exchanger of the job's destination until no recipient is left (a SimPy process body);
        ``outcome`` (a new one if None) is filled in as the attempt goes."""
        job.attempts += 1
        outcome = outcome if outcome is not None else Outcome()
        outcome.started, remaining = self.env.now, list(job.recipients)
        exchangers = self.exchangers(job)
        if isinstance(exchangers, Reply):
            self.record(job, None, self.env.now, "dns", exchangers, len(remaining), local=True)
            target = outcome.bounced if exchangers.is_permanent else outcome.deferred
            target.extend((rcpt, exchangers, None) for rcpt in remaining)
            return outcome
        last: Reply | None = None
        sessions = 0
        for mx in exchangers:
            if not remaining or sessions >= self.config.mx_session_limit:
                break
            start = self.env.now
            outcome.trying = mx.exchange
            session, last_try = yield from self._session(job, mx, cache, len(remaining))
            if session is None:
                last = last_try or last
                if last_try is not None and self._fails_recipients(last_try):
                    outcome.bounced.extend((rcpt, last_try, mx.exchange) for rcpt in remaining)
                    remaining = []
                continue
            sessions += 1
            outcome.connected, outcome.session = True, session
            remaining, last = yield from self._transact(job, mx, session, remaining, outcome, start)
            outcome.session = None
            cache.keep(mx.exchange, session)
        outcome.trying = None
        if remaining:
            reply = last or no_exchanger(job.domain)
            target = outcome.bounced if reply.is_permanent else outcome.deferred
            target.extend((rcpt, job.last_reply.get(rcpt, reply), None) for rcpt in remaining)
        return outcome

    # --- exchangers ----------------------------------------------------------------------------------------

    def exchangers(self, job: Job) -> list[MXRecord] | Reply:
        """The hosts to try, in order, or the reply that ends the attempt (RFC 5321 §5.1)."""
        try:
            if self.config.relayhost is not None:
                return [MXRecord(0, self.config.relayhost, self.network.dns.resolve_a(self.config.relayhost))]
            records = self.network.dns.resolve_mx(job.domain)
        except NXDomain:
            return domain_not_found(job.domain)
        except DNSTempFail:
            return dns_temporary(job.domain)
        records = [r for r in self._shuffle_equal(records) if r.address is not None]
        own = [r.preference for r in records if r.exchange == self.config.hostname]
        if own:
            records = [r for r in records if r.preference < min(own)]
            if not records:
                return loops_back(job.domain)
        return records[: self.config.mx_address_limit] or no_exchanger(job.domain)

    def _shuffle_equal(self, records: list[MXRecord]) -> list[MXRecord]:
        """Keep preference order; shuffle each group of equal preference with the run's seeded stream."""
        ordered: list[MXRecord] = []
        for preference in sorted({r.preference for r in records}):
            group = [r for r in records if r.preference == preference]
            self.rng.shuffle(group)
            ordered.extend(group)
        return ordered

    # --- one exchanger -------------------------------------------------------------------------------------

    def _session(
        self, job: Job, mx: MXRecord, cache: SessionCache, count: int
    ) -> Generator[simpy.Event, Any, tuple[ClientSession | None, Reply | None]]:
        """A greeted session with ``mx`` (reused or new), or None and the reply saying why not."""
        reused = cache.take(mx.exchange)
        if reused is not None:
            return reused, None
        start = self.env.now
        assert mx.address is not None
        try:
            endpoint = yield self.network.connect(self.host, mx.address, 25, self.config.connect_timeout)
        except (ConnectRefused, ConnectTimeout) as error:
            refused = isinstance(error, ConnectRefused)
            reply = (connect_refused if refused else connect_timed_out)(mx.exchange, mx.address)
            self.record(job, mx.exchange, start, "refused" if refused else "timeout", reply, count, local=True)
            self.policy.connection_failed(now=self.env.now, destination=job.destination)
            return None, reply
        session = ClientSession(self.env, endpoint, self.config.client, self.recorder, start)
        failure = yield session.handshake
        if failure is None:
            self.policy.connection_succeeded(now=self.env.now, destination=job.destination)
            return session, None
        reply, stage = failure
        self.record(job, mx.exchange, start, _outcome_word(reply), reply, count, connection=endpoint.id)
        self.policy.connection_failed(now=self.env.now, destination=job.destination)
        log.info("t=%.3f %s: %s refused the session at %s: %s", self.env.now, job.queue_id, mx.exchange,
                 stage.value, reply)
        return None, reply

    def _fails_recipients(self, reply: Reply) -> bool:
        """Exim fails the addresses on a 5xx greeting or EHLO; Postfix skips to the next MX (REFERENCE §3-4)."""
        return self.config.error_class is ErrorClass.EXIM and reply.is_permanent and reply.enhanced != "4.4.1"

    def _transact(
        self, job: Job, mx: MXRecord, session: ClientSession, remaining: list[str], outcome: Outcome, start: float
    ) -> Generator[simpy.Event, Any, tuple[list[str], Reply | None]]:
        transaction = Transaction(job.sender, tuple(remaining), job.content, tag=job.queue_id)
        result: TransactionResult = yield session.deliver(transaction)
        still: list[str] = []
        last: Reply | None = None
        for r in result.recipients:
            if r.status is Status.ACCEPTED:
                outcome.delivered.append(r.recipient)
            elif r.status is Status.PERMANENT:
                outcome.bounced.append((r.recipient, r.reply, mx.exchange))
            else:
                still.append(r.recipient)
                job.last_reply[r.recipient] = r.reply
                last = r.reply
        if result.duplicate_window:
            log.warning("t=%.3f %s: lost connection with %s after the final dot: message may be sent more "
                        "than once", self.env.now, job.queue_id, mx.exchange)
        summary = _summary(result)
        self.record(job, mx.exchange, start, _outcome_word(summary, bool(still)), summary, len(remaining),
                     connection=session.endpoint.id, duplicate_risk=result.duplicate_window)
        return still, last

    def record(
        self,
        job: Job,
        mx: str | None,
        start: float,
        outcome: str,
        reply: Reply,
        count: int,
        local: bool = False,
        connection: str | None = None,
        duplicate_risk: bool = False,
    ) -> None:
        self.recorder.attempts.append(
            Attempt(job.message_id, self.config.hostname, job.destination, job.attempts, mx, start, self.env.now,
                    outcome, None if local else reply.code, reply.enhanced, reply.text, count, connection,
                    duplicate_risk)
        )


def _summary(result: TransactionResult) -> Reply:
    """The reply that best describes a transaction: the first failure, else the final acceptance."""
    failures = [r.reply for r in result.recipients if r.status is not Status.ACCEPTED]
    return failures[0] if failures else result.recipients[0].reply


def _outcome_word(reply: Reply, some_deferred: bool = False) -> str:
    if reply.is_positive:
        return "delivered"
    return "deferred" if reply.is_transient or some_deferred else "bounced"


__all__ = ["DeliveryAgent", "DeliveryConfig", "ErrorClass", "Job", "Outcome", "SessionCache"]
