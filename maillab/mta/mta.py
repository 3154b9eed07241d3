"""An MTA on one simulated host: smtpd + queue manager + delivery agent + mailboxes + bounces.

Mail enters by SMTP (``accept``, called by smtpd once the final dot arrived) or by local submission
(``submit``, like Postfix's pickup). Each hop prepends ``Received:``; local recipients are delivered at once
with ``Return-Path:``; the rest are queued per next hop. Relaying follows Postfix's rules: local domains,
``relay_domains`` (a backup MX), or clients in ``relay_clients`` (mynetworks); anyone else is refused with
554 5.7.1 — never an open relay. Undeliverable recipients go back to the sender in an RFC 3464 DSN sent
with the null sender; a bounce is never bounced (RFC 5321 §4.5.4, §6.1).
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import simpy

from maillab.errors import ConfigError
from maillab.mta import message as M
from maillab.mta.behaviours import Behaviour
from maillab.mta.bounce import BOUNCE_SIZE_LIMIT, RecipientStatus, build_dsn
from maillab.mta.delivery import DeliveryAgent, DeliveryConfig, ErrorClass, Job
from maillab.mta.mailbox import MailStore
from maillab.mta.queue import QueueManager
from maillab.mta.records import Bounced, Delivered, Recorder
from maillab.mta.retry import RetryPolicy, make_policy
from maillab.mta.smtpd import Smtpd
from maillab.net import Host, Network
from maillab.smtp import ClientConfig, ClientTimeouts, Envelope, Reply, ServerConfig
from maillab.smtp import replies as R

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MtaConfig:
    """Everything that makes one MTA behave as it does. Defaults are Postfix 3.x's."""

    hostname: str
    local_domains: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()  # full addresses of local mailboxes
    accept_any_user: bool = False
    relay_domains: frozenset[str] = frozenset()  # domains this host relays for (backup MX)
    relay_clients: tuple[str, ...] = ()  # addresses or networks allowed to relay anywhere (mynetworks)
    relayhost: str | None = None  # send all non-local mail through this host (smart host)
    retry: str = "postfix"
    retry_params: Mapping[str, Any] = field(default_factory=dict)
    error_class: str = "postfix"
    hopcount_limit: int = 50
    connection_limit: int = 100
    destination_concurrency_limit: int = 20
    spool: str = "durable"  # or "volatile": queued mail is lost in a crash
    max_message_size: int = 10_240_000
    max_recipients: int = 1000
    server_pipelining: bool = True
    client_pipelining: str = "auto"
    client_timeouts: ClientTimeouts = field(default_factory=ClientTimeouts)
    connect_timeout: float = 30.0
    mx_address_limit: int = 5
    mx_session_limit: int = 2
    bounce_size_limit: int = BOUNCE_SIZE_LIMIT
    smtpd_timeout: float = 300.0

    def __post_init__(self) -> None:
        where = f"mta {self.hostname}"
        if self.spool not in ("durable", "volatile"):
            raise ConfigError(f"{where}: spool must be 'durable' or 'volatile', got {self.spool!r}")
        if self.error_class not in ("postfix", "exim"):
            raise ConfigError(f"{where}: error_class must be 'postfix' or 'exim', got {self.error_class!r}")
        for name in ("hopcount_limit", "connection_limit", "destination_concurrency_limit", "mx_address_limit",
                     "mx_session_limit"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{where}: {name} must be at least 1, got {getattr(self, name)}")
        if self.connect_timeout <= 0 or self.smtpd_timeout <= 0:
            raise ConfigError(f"{where}: connect_timeout and smtpd_timeout must be positive")
        for network in self.relay_clients:
            _network(network, where)

    def server_config(self) -> ServerConfig:
        return ServerConfig(hostname=self.hostname, max_recipients=self.max_recipients,
                            max_message_size=self.max_message_size, pipelining=self.server_pipelining)

    def delivery_config(self) -> DeliveryConfig:
        client = ClientConfig(self.hostname, self.client_pipelining, self.client_timeouts)
        return DeliveryConfig(self.hostname, ErrorClass(self.error_class), self.relayhost, self.connect_timeout,
                              self.mx_address_limit, self.mx_session_limit, client)


def _network(text: str, where: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ConfigError(f"{where}: relay_clients entry {text!r} is not an address or network") from None


class MTA:
    """The mail software of one host."""

    def __init__(
        self,
        env: simpy.Environment,
        network: Network,
        host: Host,
        config: MtaConfig,
        recorder: Recorder,
        rng: random.Random,
        behaviours: Sequence[Behaviour] = (),
        policy: RetryPolicy | None = None,
    ) -> None:
        self.env, self.network, self.host, self.config, self.recorder = env, network, host, config, recorder
        self.hostname = config.hostname
        self.mailboxes = MailStore(set(config.users), config.accept_any_user)
        self.policy = policy or make_policy(config.retry, rng=rng, **dict(config.retry_params))
        self.agent = DeliveryAgent(env, network, host, config.delivery_config(), self.policy, recorder, rng)
        self.queue = QueueManager(env, self.hostname, self.agent, self.policy, recorder, self._return,
                                  config.destination_concurrency_limit)
        self.smtpd = Smtpd(env, host, self, config.server_config(), behaviours, recorder,
                           config.connection_limit, config.smtpd_timeout)
        self._relay_networks = [_network(n, f"mta {self.hostname}") for n in config.relay_clients]
        self._local = {d.lower() for d in config.local_domains}
        self._relay = {d.lower() for d in config.relay_domains}
        self._ids = itertools.count(1)
        self._id_prefix = self.hostname.split(".")[0].upper()
        host.on_crash(lambda _: self._crashed())
        host.on_restart(lambda _: self._restarted())

    # --- smtpd's questions ---------------------------------------------------------------------------------

    def recipient_verdict(self, client_address: str, recipient: str) -> Reply | None:
        """None to accept; otherwise 550 5.1.1 (no such local user) or 554 5.7.1 (relay denied)."""
        domain = _domain(recipient)
        if domain in self._local or not domain:
            return None if not domain or self.mailboxes.has_user(recipient) else R.NO_SUCH_USER
        if domain in self._relay or self._trusted(client_address):
            return None
        return R.RELAY_DENIED

    def hop_limit_exceeded(self, content: bytes) -> bool:
        return M.hop_count(content) >= self.config.hopcount_limit

    def accept(self, envelope: Envelope, helo: str, client_address: str, connection: str) -> Reply:
        """The final dot: take responsibility (RFC 5321 §4.2.5); trace it and queue it."""
        queue_id = self._queue_id()
        first = envelope.recipients[0] if len(envelope.recipients) == 1 else None
        trace = M.received_header(helo, client_address, self.hostname, queue_id, first, self.env.now)
        self._enqueue(queue_id, envelope.sender or "", list(envelope.recipients), trace + envelope.content, connection)
        return R.QUEUED.with_text(f"Ok: queued as {queue_id}")

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._relay_networks)

    # --- entering the queue --------------------------------------------------------------------------------

    def submit(self, sender: str, recipients: Sequence[str], content: bytes) -> str:
        """Local submission (the sendmail command / pickup): no SMTP, straight into the queue."""
        queue_id = self._queue_id()
        trace = M.received_header("localhost", "127.0.0.1", self.hostname, queue_id, None, self.env.now, "local")
        self._enqueue(queue_id, sender, list(recipients), trace + content, None)
        return queue_id

    def _queue_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):06d}"

    def _enqueue(self, queue_id: str, sender: str, recipients: list[str], content: bytes,
                 connection: str | None) -> None:
        message_id = M.message_id_of(content) or queue_id
        by_hop: dict[tuple[str, str], list[str]] = {}
        for rcpt in recipients:
            domain = _domain(rcpt)
            if not domain or domain in self._local:
                self._deliver_locally(message_id, sender, rcpt, content, connection)
            else:
                hop = (self.config.relayhost or domain, domain)
                by_hop.setdefault(hop, []).append(rcpt)
        for (destination, domain), rcpts in by_hop.items():
            self.queue.submit(Job(message_id, queue_id, sender, content, self.env.now, destination, domain, rcpts))

    def _deliver_locally(self, message_id: str, sender: str, rcpt: str, content: bytes,
                         connection: str | None) -> None:
        """Final delivery: Return-Path added (RFC 5321 §4.4), into the mailbox."""
        address = rcpt if "@" in rcpt else f"{rcpt}@{self.hostname}"
        self.mailboxes.deliver(address, M.return_path_header(sender) + content, self.env.now)
        self.recorder.delivered.append(
            Delivered(self.env.now, message_id, rcpt, self.hostname, M.hop_count(content), connection)
        )

    # --- returning mail ------------------------------------------------------------------------------------

    def _return(self, job: Job, statuses: list[RecipientStatus]) -> None:
        """Recipients the queue gave up on (or a delay warning): tell the sender, unless it is a bounce."""
        failed = [s for s in statuses if s.action == "failed"]
        dsn_sent = job.sender != ""
        for s in failed:
            self.recorder.bounced.append(Bounced(self.env.now, job.message_id, s.recipient, self.hostname,
                                                 s.reply.enhanced or "", str(s.reply), dsn_sent))
        if not dsn_sent:
            log.info("t=%.3f %s: undeliverable bounce discarded (RFC 5321 §6.1)", self.env.now, job.queue_id)
            return
        queue_id = self._queue_id()
        dsn = build_dsn(reporting_mta=self.hostname, dsn_id=f"{queue_id}.{job.message_id}", sender=job.sender,
                        original=job.content, arrival=job.arrival, now=self.env.now, statuses=tuple(statuses),
                        size_limit=self.config.bounce_size_limit)
        self._enqueue(queue_id, "", [job.sender], dsn, None)

    # --- crash and restart ---------------------------------------------------------------------------------

    def _crashed(self) -> None:
        log.info("t=%.3f %s crashed (%s spool)", self.env.now, self.hostname, self.config.spool)
        self.queue.crash(volatile=self.config.spool == "volatile")

    def _restarted(self) -> None:
        self.smtpd.start()
        self.queue.restart()


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower() if "@" in address else ""
