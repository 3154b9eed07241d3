"""Final delivery into Maildir folders, with the trace headers a delivering MTA adds (RFC 5321 §4.4).

One folder per user: ``ROOT/<user>/{tmp,new,cur}``, written with ``mailbox.Maildir`` so that any Maildir
reader (``mailbox.Maildir``, mutt, Dovecot) sees every message. Files use the local line ending (LF), as
Maildir files do; the SMTP wire form had CRLF.
"""

from __future__ import annotations

import mailbox
import re
import uuid
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path

from maillab.errors import ConfigError

#: A user name that is safe as a directory name: no path separators, no leading dot (Maildir uses those).
_SAFE_USER = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,63}$")


def is_safe_user(name: str) -> bool:
    """True when ``name`` can be a Maildir folder name under the root (and a dot-atom local-part)."""
    return _SAFE_USER.match(name) is not None and ".." not in name and not name.endswith(".")


def new_queue_id() -> str:
    """A short unique id for one accepted message, in the style of Postfix queue ids."""
    return uuid.uuid4().hex[:12].upper()


def trace_headers(*, sender: str, helo: str | None, peer: str, hostname: str, queue_id: str,
                  esmtp: bool = True, when: datetime | None = None) -> bytes:
    """``Return-Path:`` and ``Received:`` as prepended at final delivery (RFC 5321 §4.4, RFC 5322 §3.6.7).

    ``Received: from <helo> ([<peer ip>]) by <hostname> with ESMTP id <id>; <date>`` -- the peer is an
    address literal in brackets (RFC 5321 §4.4 TCP-info), "SMTP" instead of "ESMTP" after HELO (RFC 3848).
    Folded over three lines as Postfix does. Lines end in LF (the Maildir convention).
    """
    stamp = format_datetime((when or datetime.now()).astimezone())
    literal = f"[IPv6:{peer}]" if ":" in peer else f"[{peer}]"
    protocol = "ESMTP" if esmtp else "SMTP"
    return (
        f"Return-Path: <{sender}>\n"
        f"Received: from {helo or 'unknown'} ({literal})\n"
        f"\tby {hostname} with {protocol} id {queue_id};\n"
        f"\t{stamp}\n"
    ).encode("ascii")


def to_local_lines(content: bytes) -> bytes:
    """SMTP content (CRLF lines) in the local form Maildir files use (LF lines)."""
    return content.replace(b"\r\n", b"\n")


class MaildirStore:
    """A directory of Maildir folders, one per user, created on first delivery."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"maildir {str(root)!r} exists and is not a directory")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"maildir {str(root)!r}: cannot create it: {exc.strerror or exc}") from exc

    def folder(self, user: str) -> mailbox.Maildir:
        """The user's Maildir, created when missing. ``user`` must pass ``is_safe_user``."""
        if not is_safe_user(user):
            raise ValueError(f"unsafe Maildir user name {user!r}")
        return mailbox.Maildir(self.root / user, factory=None, create=True)

    def deliver(self, user: str, message: bytes) -> str:
        """Store one message (LF lines, trace headers included) in ``new/``; returns its Maildir key."""
        return self.folder(user).add(message)
