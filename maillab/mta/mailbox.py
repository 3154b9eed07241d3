"""Mailboxes: where final delivery puts a message, per user, in arrival order.

A mailbox survives a crash of its host (it is on disk, like a Maildir). ``write_maildir`` exports the
messages as real Maildir folders that Python's ``mailbox.Maildir`` and mail clients can read.
"""

from __future__ import annotations

import mailbox
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class StoredMessage:
    time: float
    content: bytes


@dataclass(slots=True)
class MailStore:
    """The mailboxes of one host: local users by full address (lower case)."""

    users: set[str] = field(default_factory=set)
    accept_any_user: bool = False
    boxes: dict[str, list[StoredMessage]] = field(default_factory=dict)

    def has_user(self, address: str) -> bool:
        return self.accept_any_user or address.lower() in self.users

    def deliver(self, address: str, content: bytes, now: float) -> None:
        self.boxes.setdefault(address.lower(), []).append(StoredMessage(now, content))

    def usage(self, address: str) -> int | None:
        """Octets stored for ``address``, or None when it is not a local user."""
        if not self.has_user(address):
            return None
        return sum(len(m.content) for m in self.boxes.get(address.lower(), ()))

    def messages(self, address: str) -> list[StoredMessage]:
        return list(self.boxes.get(address.lower(), ()))

    def write_maildir(self, directory: Path) -> list[Path]:
        """One Maildir per user under ``directory`` (``user@domain/``); returns the folders written."""
        written = []
        directory.mkdir(parents=True, exist_ok=True)
        for address in sorted(self.boxes):
            box = mailbox.Maildir(directory / address, create=True)
            for stored in self.boxes[address]:
                box.add(mailbox.MaildirMessage(stored.content))
            box.close()
            written.append(directory / address)
        return written
