"""The policy of ``maillab smtpd``: the final destination of one domain, delivering to Maildir.

- Recipients in the served domain are local: a listed user (or any safe local-part when no user list is
  given) is accepted, anyone else gets ``550 5.1.1``. ``postmaster`` is always accepted (RFC 5321 §4.5.1),
  also without a domain (``RCPT TO:<Postmaster>``).
- Recipients in any other domain get ``554 5.7.1 Relay access denied``: this server is no open relay.
- Local-parts are compared case-insensitively and delivered to the lower-cased folder, as Postfix's local
  recipient lookup does. Two recipients naming the same mailbox get one copy.
- Every accepted message gets ``Return-Path:`` and ``Received:`` (RFC 5321 §4.4) and is stored in each
  recipient's Maildir before the 250 is sent (RFC 5321 §4.2.5: the 250 means we own it). If storing fails
  the reply is ``451 4.3.0`` and the sender keeps the message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from maillab.errors import ConfigError
from maillab.realnet.maildir import MaildirStore, is_safe_user, new_queue_id, to_local_lines, trace_headers
from maillab.smtp import replies as R
from maillab.smtp.commands import is_mailbox
from maillab.smtp.policy import DefaultPolicy, Envelope, Session
from maillab.smtp.replies import Reply

log = logging.getLogger(__name__)

POSTMASTER = "postmaster"


class LocalDomainPolicy(DefaultPolicy):
    """Accept mail for the users of one domain and store it in their Maildirs; relay nothing."""

    def __init__(self, hostname: str, domain: str, users: Iterable[str] | None, store: MaildirStore) -> None:
        super().__init__(hostname)
        self.domain = _check_domain(domain)
        self.users = None if users is None else frozenset(_check_user(u, self.domain) for u in users)
        self.store = store

    # --- decisions -----------------------------------------------------------------------------------------

    def mailbox_for(self, address: str) -> str | None:
        """The local folder an address delivers to, or None when it is not a local user."""
        local, _, domain = address.rpartition("@")
        if not local:  # <Postmaster> without a domain (RFC 5321 §4.5.1)
            local, domain = address, self.domain
        if domain.lower().rstrip(".") != self.domain:
            return None
        name = local.lower()
        if name == POSTMASTER:
            return name
        if self.users is not None and name not in self.users:
            return None
        return name if is_safe_user(name) else None

    def is_local_domain(self, address: str) -> bool:
        local, at, domain = address.rpartition("@")
        return not at or domain.lower().rstrip(".") == self.domain

    # --- the ServerPolicy hooks ----------------------------------------------------------------------------

    def recipient(self, session: Session, envelope: Envelope, address: str) -> Reply:
        if not self.is_local_domain(address):
            return R.RELAY_DENIED
        if self.mailbox_for(address) is None:
            return R.NO_SUCH_USER
        return R.RECIPIENT_OK

    def message(self, session: Session, envelope: Envelope) -> Reply:
        queue_id = new_queue_id()
        trace = trace_headers(sender=envelope.sender or "", helo=session.helo, peer=session.peer,
                              hostname=self.hostname, queue_id=queue_id, esmtp=session.esmtp)
        stored = trace + to_local_lines(envelope.content)
        folders = dict.fromkeys(f for r in envelope.recipients if (f := self.mailbox_for(r)) is not None)
        try:
            for folder in folders:
                self.store.deliver(folder, stored)
        except OSError as exc:
            log.error("id=%s from=<%s>: cannot store in Maildir: %s", queue_id, envelope.sender, exc)
            return R.LOCAL_ERROR
        log.info("id=%s from=<%s> to=%s size=%d: delivered to %s", queue_id, envelope.sender,
                 ",".join(f"<{r}>" for r in envelope.recipients), len(envelope.content), ",".join(folders))
        return R.QUEUED.with_text(f"Ok: queued as {queue_id}")


def _check_domain(domain: str) -> str:
    name = domain.strip().lower().rstrip(".")
    if not is_mailbox(f"{POSTMASTER}@{name}") or name.startswith("["):
        raise ConfigError(f"domain {domain!r} is not a valid domain name (e.g. example.test)")
    return name


def _check_user(user: str, domain: str) -> str:
    name = user.strip().lower()
    if not is_safe_user(name) or not is_mailbox(f"{name}@{domain}"):
        raise ConfigError(f"user {user!r} is not a usable local-part (letters, digits, . _ + - ; no leading dot)")
    return name
