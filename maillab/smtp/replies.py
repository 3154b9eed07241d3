"""SMTP replies: the value type, its wire format, its parser, and every reply the engine uses.

Every reply the server side sends is a named constant here (or built by a small function when it carries the
host name), each with its RFC 3463 enhanced status code. Logic never spells a reply string itself.
Codes and their meanings: RFC 5321 §4.2.2-§4.2.3; enhanced codes: RFC 3463 §3.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import Enum

from maillab.errors import RemoteProtocolError
from maillab.smtp.caching import BoundedCache

_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})$")
_REPLY_LINE = re.compile(rb"^([2-5][0-9][0-9])([ -]?)(.*)$", re.DOTALL)


class ReplyClass(Enum):
    """What a reply means to the client: RFC 5321 §4.2.1, decided by the first digit only."""

    POSITIVE = 2
    INTERMEDIATE = 3
    TRANSIENT = 4
    PERMANENT = 5


@dataclass(frozen=True, slots=True)
class Reply:
    """One SMTP reply: a 3-digit code, an optional enhanced status code, and free text (may span lines)."""

    code: int
    enhanced: str | None
    text: str

    def __post_init__(self) -> None:
        if not 200 <= self.code <= 599:
            raise ValueError(f"reply code {self.code} is not a 2xx-5xx code (RFC 5321 §4.2)")
        if self.enhanced is not None:
            match = _ENHANCED.match(self.enhanced)
            if match is None or int(match.group(1)) != self.code // 100:
                raise ValueError(f"enhanced code {self.enhanced!r} does not fit reply {self.code} (RFC 3463)")

    @property
    def kind(self) -> ReplyClass:
        """The reply's class from its first digit: what a client acts on (RFC 5321 §4.2)."""
        return ReplyClass(self.code // 100)

    @property
    def is_positive(self) -> bool:
        return self.code < 400

    @property
    def is_transient(self) -> bool:
        return 400 <= self.code < 500

    @property
    def is_permanent(self) -> bool:
        return self.code >= 500

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(self.text.split("\n")) if self.text else ("",)

    def with_text(self, text: str) -> Reply:
        """The same code and enhanced code with other text."""
        return Reply(self.code, self.enhanced, text)

    def to_bytes(self, enhanced: bool = True) -> bytes:
        """Wire form: ``250-first`` continuation lines, ``250 last`` (RFC 5321 §4.2.1)."""
        return wire_form(self, enhanced)

    def _format(self, enhanced: bool) -> bytes:
        prefix = f"{self.enhanced} " if enhanced and self.enhanced else ""
        lines = self.lines
        out = [f"{self.code}-{prefix}{line}\r\n" for line in lines[:-1]]
        out.append(f"{self.code} {prefix}{lines[-1]}".rstrip(" ") + "\r\n")
        return "".join(out).encode("utf-8")

    def __str__(self) -> str:
        prefix = f"{self.enhanced} " if self.enhanced else ""
        return f"{self.code} {prefix}{self.text}".replace("\n", " / ")


def wire_form(reply: Reply, enhanced: bool) -> bytes:
    """``reply.to_bytes(enhanced)``, remembered per reply object: a server sends the same few replies.

    Keyed by identity first, as hashing a Reply (a dataclass) runs Python code and ``id`` does not; each
    entry holds its reply, so no other object can take that id while the entry exists. An equal reply
    built anew still finds its wire form in the cache by value below."""
    key = (id(reply), enhanced)
    known = _WIRE_FORMS.get(key)
    if known is None:
        known = _WIRE_FORMS.remember(key, (reply, _wire_form(reply, enhanced)))
    return known[1]


@functools.lru_cache(maxsize=4096)
def _wire_form(reply: Reply, enhanced: bool) -> bytes:
    """Replies repeat: their wire forms are cached (a reply is immutable)."""
    return reply._format(enhanced)


_WIRE_FORMS: BoundedCache[tuple[int, bool], tuple[Reply, bytes]] = BoundedCache(1024)


def split_enhanced(code: int, text: str) -> tuple[str | None, str]:
    """Take a leading RFC 3463 code off ``text`` when it is there and matches the reply's class."""
    head, _, rest = text.partition(" ")
    match = _ENHANCED.match(head)
    if match is not None and int(match.group(1)) == code // 100:
        return head, rest
    return None, text


class ReplyParser:
    """Collects reply lines until a reply is complete (RFC 5321 §4.2.1 multi-line replies).

    Codes are strict: a line that does not start with three digits, or a continuation line whose code
    differs from the first, raises ``RemoteProtocolError``. Text is free.
    """

    __slots__ = ("_code", "_lines")

    def __init__(self) -> None:
        self._code: int | None = None
        self._lines: list[str] = []

    def feed_line(self, line: bytes) -> Reply | None:
        """Feed one line without its CRLF; return the reply once its last line arrives."""
        if self._code is None and type(line) is bytes:
            known = _ONE_LINE_REPLIES.get(line)
            if known is not None:
                return known  # fast path: this one-line reply was parsed before (and a Reply is immutable)
        code, separator, text = _split_line(line)
        if self._code is not None and code != self._code:
            raise RemoteProtocolError(f"reply line {line[:80]!r} changes code within a multi-line reply")
        self._code = code
        self._lines.append(text)
        if separator == b"-":
            return None
        if len(self._lines) == 1 and type(line) is bytes:
            self._code, self._lines = None, []
            return _ONE_LINE_REPLIES.remember(line, _build_reply(code, (text,)))
        return self._finish()

    def _finish(self) -> Reply:
        assert self._code is not None
        key = (self._code, tuple(self._lines))
        self._code, self._lines = None, []
        known = _MULTI_LINE_REPLIES.get(key)
        return known if known is not None else _MULTI_LINE_REPLIES.remember(key, _build_reply(*key))


def _split_line(line: bytes) -> tuple[int, bytes, str]:
    """A reply line's code, separator (``-``, space or nothing) and text; a malformed line raises."""
    if type(line) is bytes:
        known = _SPLIT_LINES.get(line)
        if known is not None:
            return known  # fast path: the lines of an EHLO reply recur like one-line replies
        return _SPLIT_LINES.remember(line, _split_new_line(line))
    return _split_new_line(line)


def _split_new_line(line: bytes) -> tuple[int, bytes, str]:
    match = _REPLY_LINE.match(line)
    if match is None:
        raise RemoteProtocolError(f"malformed reply line {line[:80]!r}: no 3-digit code")
    digits, separator, rest = match.groups()
    if separator == b"" and rest:
        raise RemoteProtocolError(f"malformed reply line {line[:80]!r}: code not followed by space or '-'")
    return int(digits), separator, rest.decode("utf-8", "replace")


def _build_reply(code: int, lines: tuple[str, ...]) -> Reply:
    """The reply of a complete set of lines, the enhanced code taken off each (RFC 3463)."""
    enhanced, first = split_enhanced(code, lines[0])
    if enhanced is not None:
        lines = (first, *(split_enhanced(code, line)[1] for line in lines[1:]))
    return Reply(code, enhanced, "\n".join(lines))


#: Parsed replies by their wire lines: the client meets the same few replies again and again.
_ONE_LINE_REPLIES: BoundedCache[bytes, Reply] = BoundedCache(1024)
_SPLIT_LINES: BoundedCache[bytes, tuple[int, bytes, str]] = BoundedCache(1024)
_MULTI_LINE_REPLIES: BoundedCache[tuple[int, tuple[str, ...]], Reply] = BoundedCache(256)


# --- Replies the server sends (RFC 5321 §4.2.2, §4.2.3; RFC 3463; Postfix smtpd.c wording) -----------------
# The ones that carry a host name are built once per name (lru_cache): a server greets every session alike.

@functools.lru_cache(maxsize=256)
def ready(hostname: str) -> Reply:
    """The greeting of a willing server (RFC 5321 §4.3.1): 220, no enhanced code."""
    return Reply(220, None, f"{hostname} ESMTP maillab")


@functools.lru_cache(maxsize=256)
def closing(hostname: str) -> Reply:
    return Reply(221, "2.0.0", f"{hostname} closing connection")


@functools.lru_cache(maxsize=256)
def ehlo_reply(hostname: str, client: str, keywords: tuple[str, ...]) -> Reply:
    """The EHLO response: greeting line, then one extension keyword per line (RFC 5321 §4.1.1.1)."""
    return Reply(250, None, "\n".join((f"{hostname} greets {client}", *keywords)))


@functools.lru_cache(maxsize=256)
def helo_reply(hostname: str) -> Reply:
    return Reply(250, None, hostname)


@functools.lru_cache(maxsize=256)
def not_available(hostname: str) -> Reply:
    """421: service not available, closing the channel (RFC 5321 §3.8, §4.2.3)."""
    return Reply(421, "4.3.2", f"{hostname} Service not available, closing transmission channel")


@functools.lru_cache(maxsize=256)
def no_service(hostname: str) -> Reply:
    """554 instead of 220: no SMTP service here; the server then answers 503 until QUIT (RFC 5321 §3.1)."""
    return Reply(554, "5.3.2", f"{hostname} No SMTP service here")


OK = Reply(250, "2.0.0", "Ok")
SENDER_OK = Reply(250, "2.1.0", "Ok")
RECIPIENT_OK = Reply(250, "2.1.5", "Ok")
RESET_OK = Reply(250, "2.0.0", "Ok")
QUEUED = Reply(250, "2.0.0", "Ok: queued")
START_MAIL_INPUT = Reply(354, None, "End data with <CR><LF>.<CR><LF>")
CANNOT_VRFY = Reply(252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery")
HELP = Reply(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP VRFY HELP QUIT\nSee RFC 5321")

TOO_MANY_ERRORS = Reply(421, "4.7.0", "Error: too many errors")
MAILBOX_BUSY = Reply(450, "4.2.0", "Mailbox unavailable")
GREYLISTED = Reply(450, "4.2.0", "Greylisted, see http://postgrey.schweikert.ch/help/")
LOCAL_ERROR = Reply(451, "4.3.0", "Error: queue file write error")
INSUFFICIENT_STORAGE = Reply(452, "4.3.1", "Insufficient system storage")
MAILBOX_FULL = Reply(452, "4.2.2", "Mailbox full")
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3", "Error: too many recipients")

LINE_TOO_LONG = Reply(500, "5.5.2", "Error: line too long")
UNRECOGNIZED = Reply(500, "5.5.1", "Error: command not recognized")
BARE_LF = Reply(500, "5.5.2", "Error: bare <LF> received; SMTP lines end with <CR><LF>")
BAD_CHARACTER = Reply(500, "5.5.2", "Error: NUL or 8-bit character in command")
TEXT_LINE_TOO_LONG = Reply(500, "5.5.2", "Error: message text line longer than 1000 octets")
SYNTAX_MAIL = Reply(501, "5.5.4", "Syntax: MAIL FROM:<address>")
SYNTAX_RCPT = Reply(501, "5.5.4", "Syntax: RCPT TO:<address>")
SYNTAX_EHLO = Reply(501, "5.5.4", "Syntax: EHLO hostname")
SYNTAX_HELO = Reply(501, "5.5.4", "Syntax: HELO hostname")
SYNTAX_VRFY = Reply(501, "5.5.4", "Syntax: VRFY address")
NO_ARGUMENTS = Reply(501, "5.5.4", "Syntax error: this command takes no arguments")
BAD_ADDRESS = Reply(501, "5.1.3", "Bad address syntax")
PATH_TOO_LONG = Reply(501, "5.1.3", "Path too long")
BAD_SIZE = Reply(501, "5.5.4", "Bad SIZE parameter")
NOT_IMPLEMENTED = Reply(502, "5.5.1", "Error: command not implemented")
NEED_HELO = Reply(503, "5.5.1", "Error: send HELO/EHLO first")
NEED_MAIL = Reply(503, "5.5.1", "Error: need MAIL command")
NESTED_MAIL = Reply(503, "5.5.1", "Error: nested MAIL command")
NEED_RCPT = Reply(503, "5.5.1", "Error: need RCPT command")
NO_SERVICE_SEQUENCE = Reply(503, "5.5.1", "Error: no SMTP service here; only QUIT is accepted")
PARAMETER_NOT_IMPLEMENTED = Reply(504, "5.5.4", "Error: parameter not implemented")
NO_SUCH_USER = Reply(550, "5.1.1", "Recipient address rejected: User unknown in local recipient table")
RELAY_DENIED = Reply(554, "5.7.1", "Relay access denied")
USER_NOT_LOCAL = Reply(551, "5.1.6", "User not local")
SIZE_EXCEEDED = Reply(552, "5.3.4", "Error: message size exceeds fixed limit")
QUOTA_EXCEEDED = Reply(552, "5.2.2", "Mailbox full: quota exceeded")
BAD_MAILBOX_NAME = Reply(553, "5.1.3", "Bad mailbox name")
NO_VALID_RECIPIENTS = Reply(554, "5.5.1", "Error: no valid recipients")
TOO_MANY_HOPS = Reply(554, "5.4.0", "Error: too many hops")
UNSUPPORTED_PARAMETER = Reply(555, "5.5.4", "Unsupported option")

# --- Replies a client records for events that are not server replies (RFC 5321 §3.8, §4.5.3.2) ------------

CONNECTION_LOST = Reply(451, "4.4.2", "Connection lost (RFC 5321 §3.8)")
CONVERSATION_TIMEOUT = Reply(451, "4.4.2", "Conversation timed out")
PROTOCOL_VIOLATION = Reply(451, "4.5.0", "Remote protocol error")
NOT_ATTEMPTED = Reply(451, "4.4.2", "Not attempted: session ended before this transaction")
