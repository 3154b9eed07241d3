"""The server role of the sans-I/O SMTP engine (RFC 5321 §3-§4, RFC 2920, RFC 1870, RFC 2034).

    server = ServerConnection(policy, ServerConfig(hostname="mx.example"))
    server.start()                       # queues the greeting
    server.receive_data(bytes_from_peer) # b"" when the peer closed
    while (event := server.next_event()) is not NEED_DATA:
        ...                              # Greeted / Replied / MessageReceived / Closed
    wire.write(server.data_to_send())    # replies, in order; flush when input is exhausted (RFC 2920 §3.2)
    if server.closed: wire.close()

The engine does no I/O and keeps no clock. It answers every command line with exactly one reply; which
commands are legal in which state is the single table ``SEQUENCE_ERRORS`` below.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from enum import Enum

from maillab.errors import LocalProtocolError
from maillab.smtp import commands as C
from maillab.smtp import replies as R
from maillab.smtp.caching import BoundedCache
from maillab.smtp.policy import DefaultPolicy, Envelope, ServerConfig, ServerPolicy, Session
from maillab.smtp.reader import CommandReader, ContentReader, LineDefect
from maillab.smtp.replies import Reply

log = logging.getLogger(__name__)


class ServerState(Enum):
    GREETING = "greeting"  # connected, greeting not yet sent
    NO_SERVICE = "no service"  # greeted with 554: 503 to everything but QUIT (RFC 5321 §3.1)
    CONNECTED = "connected"  # greeted, no EHLO/HELO yet
    READY = "ready"  # EHLO/HELO done, no transaction
    MAIL = "mail"  # MAIL accepted, no recipient accepted yet
    RCPT = "rcpt"  # at least one recipient accepted
    DATA = "data"  # reading message content after 354
    CLOSED = "closed"  # 221 or 421 sent, or the peer went away


# The states as module globals for the per-command path: on Python 3.11 every ``ServerState.READY`` goes
# through EnumType.__getattr__ (about 0.15 µs); a global is read in a tenth of that.
_GREETING, _NO_SERVICE, _CONNECTED, _READY = (
    ServerState.GREETING, ServerState.NO_SERVICE, ServerState.CONNECTED, ServerState.READY)
_MAIL, _RCPT, _DATA, _CLOSED = ServerState.MAIL, ServerState.RCPT, ServerState.DATA, ServerState.CLOSED
_NO_DEFECT = LineDefect.NONE


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()


@dataclass(frozen=True, slots=True)
class Greeted:
    reply: Reply


@dataclass(frozen=True, slots=True)
class Replied:
    """One command line and the one reply it got. ``command`` is None when the line did not parse."""

    line: str
    command: C.Command | None
    reply: Reply


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """The final dot arrived. ``accepted`` says whether the server took responsibility (RFC 5321 §4.2.5)."""

    sender: str
    recipients: tuple[str, ...]
    content: bytes
    reply: Reply

    @property
    def accepted(self) -> bool:
        return self.reply.is_positive


@dataclass(frozen=True, slots=True)
class Closed:
    """The session is over: ``reply`` is the 221/421 sent, or None when the peer went away."""

    reply: Reply | None


ServerEvent = Greeted | Replied | MessageReceived | Closed

_ANY_STATE_OK = (C.Quit,)
_ALL_COMMANDS = (C.Ehlo, C.Helo, C.Mail, C.Rcpt, C.Data, C.Rset, C.Noop, C.Vrfy, C.Help, C.Quit)

#: The one table of illegal (state, command) pairs and the reply each gets (RFC 5321 §4.1.4, §3.1).
#: Anything not listed is legal and goes to its handler.
SEQUENCE_ERRORS: dict[tuple[ServerState, type], Reply] = {
    **{(ServerState.NO_SERVICE, c): R.NO_SERVICE_SEQUENCE for c in _ALL_COMMANDS if c not in _ANY_STATE_OK},
    (ServerState.CONNECTED, C.Mail): R.NEED_HELO,
    (ServerState.CONNECTED, C.Rcpt): R.NEED_MAIL,
    (ServerState.CONNECTED, C.Data): R.NEED_MAIL,
    (ServerState.READY, C.Rcpt): R.NEED_MAIL,
    (ServerState.READY, C.Data): R.NEED_MAIL,
    (ServerState.MAIL, C.Mail): R.NESTED_MAIL,
    (ServerState.MAIL, C.Data): R.NEED_RCPT,
    (ServerState.RCPT, C.Mail): R.NESTED_MAIL,
}

#: SEQUENCE_ERRORS keyed by the state's value: a str hashes in C, an Enum member through Python code.
_SEQUENCE_ERRORS_BY_VALUE = {(state.value, command): reply for (state, command), reply in SEQUENCE_ERRORS.items()}

_DEFECT_REPLIES = {
    LineDefect.TOO_LONG: R.LINE_TOO_LONG,
    LineDefect.BAD_CHARACTER: R.BAD_CHARACTER,
}


class ServerConnection:
    """One SMTP server session, bytes in and bytes out."""

    def __init__(
        self, policy: ServerPolicy | None = None, config: ServerConfig | None = None, peer: str = "unknown"
    ) -> None:
        self.config = _DEFAULT_CONFIG if config is None else config  # frozen: one default serves everyone
        self.policy: ServerPolicy = DefaultPolicy(self.config.hostname) if policy is None else policy
        self.session = Session(peer=peer)
        self.envelope = Envelope()
        self.state = _GREETING
        self._inbox = bytearray()
        self._outbox: list[bytes] = []  # joined by data_to_send: appending copies nothing
        self._events: deque[ServerEvent] = deque()
        self._lines = CommandReader()
        self._content: ContentReader | None = None
        self._eof = False

    @property
    def closed(self) -> bool:
        return self.state is _CLOSED

    # --- the sans-I/O surface ------------------------------------------------------------------------------

    def start(self) -> None:
        """Greet: 220, or 554 (then 503 until QUIT), or 421 (then close), as the policy decides."""
        if self.state is not _GREETING:
            raise _misuse(self.state, "start() called twice")
        reply = self.policy.greeting(self.session)
        self._emit(reply)
        self._events.append(Greeted(reply))
        if reply.code == 220:
            self.state = _CONNECTED if self.config.require_helo else _READY
        elif reply.code == 421:
            self._close(reply)
        else:
            self.state = _NO_SERVICE

    def receive_data(self, data: bytes) -> None:
        """Bytes from the peer; ``b""`` means the peer closed its side."""
        if self.state is _GREETING:
            raise _misuse(self.state, "receive_data before start")
        if data:
            if self.state is not _CLOSED:
                self._inbox += data
        else:
            self._eof = True

    def next_event(self) -> ServerEvent | _NeedData:
        """The next thing that happened, processing at most one command line or one message."""
        if not self._events and self.state is not _CLOSED:
            self._step()
        if self._events:
            return self._events.popleft()
        return NEED_DATA

    def data_to_send(self) -> bytes:
        """Replies produced so far, in order; empties the outbox."""
        out = b"".join(self._outbox)
        self._outbox.clear()
        return out

    def connection_lost(self) -> None:
        """The transport failed: an open transaction is abandoned and nothing is delivered (§3.8)."""
        if not self.closed:
            self.envelope = Envelope()
            self.state = _CLOSED
            self._events.append(Closed(None))

    # --- processing ----------------------------------------------------------------------------------------

    def _step(self) -> None:
        if self.state is _DATA:
            self._step_content()
            return
        line = self._lines.next_line(self._inbox)
        if line is not None:
            self._handle_line(*line)
        elif self._eof:
            self.connection_lost()

    def _step_content(self) -> None:
        assert self._content is not None
        content = self._content.feed(self._inbox)
        if content is None:
            if self._eof:
                self.connection_lost()
            return
        self._content = None
        if content.too_big:
            reply = R.SIZE_EXCEEDED
        elif content.long_line:
            reply = R.TEXT_LINE_TOO_LONG
        else:
            self.envelope.content = content.data
            reply = self.policy.message(self.session, self.envelope)
        assert self.envelope.sender is not None
        self._events.append(
            MessageReceived(self.envelope.sender, tuple(self.envelope.recipients), content.data, reply)
        )
        self.session.transactions += 1
        self._reset_transaction()
        self._answer(reply)

    def _handle_line(self, text: str, defect: LineDefect, bare_lf: bool) -> None:
        parsed = self._parse(text, defect, bare_lf)
        if isinstance(parsed, Reply):
            self._events.append(_replied(text, None, parsed))
            self._answer(parsed)
            return
        refusal = self._sequence_error(parsed)
        reply = self._dispatch(parsed) if refusal is None else refusal
        self._events.append(_replied(text, parsed, reply))
        self._answer(reply)

    def _parse(self, text: str, defect: LineDefect, bare_lf: bool) -> C.Command | Reply:
        """The command on a line, or the reply refusing the line: bad characters or length, a bare LF,
        and in the no-service state anything but QUIT (RFC 5321 §3.1: 503 until QUIT)."""
        if defect is not _NO_DEFECT:
            return _DEFECT_REPLIES[defect]
        if bare_lf and self.config.bare_lf == "reject":
            return R.BARE_LF
        parsed = C.parse_command(text)
        if self.state is _NO_SERVICE and not isinstance(parsed, C.Quit):
            return R.NO_SERVICE_SEQUENCE
        return parsed

    def _sequence_error(self, command: C.Command) -> Reply | None:
        reply = _SEQUENCE_ERRORS_BY_VALUE.get((self.state._value_, type(command)))
        if reply is R.NEED_RCPT and self.envelope.rejected:
            return R.NO_VALID_RECIPIENTS  # Postfix: RCPTs were tried and all refused
        if reply is None and not self.session.esmtp and isinstance(command, (C.Mail, C.Rcpt)) and command.params:
            return R.UNSUPPORTED_PARAMETER  # parameters need EHLO (RFC 5321 §4.1.1.2)
        return reply

    def _dispatch(self, command: C.Command) -> Reply:
        """The handler for the command's type: a dict lookup (commands are exactly the parser's types),
        faster than a match on class patterns; by name, so that a subclass may override a handler."""
        handler = _HANDLERS.get(type(command))
        if handler is None:
            raise _misuse(self.state, f"no handler for {command!r}")
        reply: Reply = getattr(self, handler)(command)
        return reply

    def _on_ehlo(self, command: C.Ehlo) -> Reply:
        return self._hello(command.domain, esmtp=True)

    def _on_helo(self, command: C.Helo) -> Reply:
        return self._hello(command.domain, esmtp=False)

    def _on_data(self, command: C.Data) -> Reply:
        self.state = _DATA
        self._content = ContentReader(self.config.max_message_size or 2**62)
        return R.START_MAIL_INPUT

    def _on_rset(self, command: C.Rset) -> Reply:
        self._reset_transaction()
        return R.RESET_OK

    def _on_noop(self, command: C.Noop) -> Reply:
        return R.OK

    def _on_vrfy(self, command: C.Vrfy) -> Reply:
        return self.policy.verify(self.session, command.address)

    def _on_help(self, command: C.Help) -> Reply:
        return R.HELP

    def _on_quit(self, command: C.Quit) -> Reply:
        return R.closing(self.config.hostname)

    def _hello(self, name: str, esmtp: bool) -> Reply:
        """EHLO/HELO: a new session state; any transaction is dropped as by RSET (RFC 5321 §4.1.4).
        A refused EHLO/HELO changes nothing."""
        self.session.hello_verb = "EHLO" if esmtp else "HELO"
        refusal = self.policy.hello(self.session, name)
        if refusal is not None:
            return refusal
        self._reset_transaction()
        self.session.helo, self.session.esmtp = name, esmtp
        self.state = _READY
        if esmtp:
            return R.ehlo_reply(self.config.hostname, name, self.config.ehlo_keywords())
        return R.helo_reply(self.config.hostname)

    def _mail(self, command: C.Mail) -> Reply:
        size, body = None, ""
        if command.params:
            checked = _mail_parameters(command, self.config.max_message_size)
            if isinstance(checked, Reply):
                return checked
            size, body = checked
        reply = self.policy.sender(self.session, self.envelope, command.sender, size)
        if reply.is_positive:
            self.envelope.sender, self.envelope.declared_size = command.sender, size
            self.envelope.body_8bit = body == "8BITMIME"
            self.state = _MAIL
        return reply

    def _rcpt(self, command: C.Rcpt) -> Reply:
        if command.params:
            return R.UNSUPPORTED_PARAMETER
        if len(self.envelope.recipients) >= self.config.max_recipients:
            return R.TOO_MANY_RECIPIENTS  # RFC 5321 §4.5.3.1.8
        reply = self.policy.recipient(self.session, self.envelope, command.recipient)
        if reply.is_positive:
            self.envelope.recipients.append(command.recipient)
            self.state = _RCPT
        else:
            self.envelope.rejected += 1
        return reply

    # --- output --------------------------------------------------------------------------------------------

    def _answer(self, reply: Reply) -> None:
        """Send a command's one reply; count errors; close after 221, 421, or the hard error limit."""
        self._emit(reply)
        if reply.code in (221, 421):
            self._close(reply)
            return
        if reply.code >= 400:
            self.session.errors += 1
            if self.session.errors >= self.config.hard_error_limit:  # Postfix smtpd_hard_error_limit
                self._emit(R.TOO_MANY_ERRORS)
                self._close(R.TOO_MANY_ERRORS)

    def _emit(self, reply: Reply) -> None:
        self._outbox.append(R.wire_form(reply, self.config.enhanced_status_codes))

    def _close(self, reply: Reply) -> None:
        self.state = _CLOSED
        self._events.append(Closed(reply))

    def _reset_transaction(self) -> None:
        self.envelope = Envelope()
        if self.state in (_MAIL, _RCPT, _DATA):
            self.state = _READY


def _mail_parameters(command: C.Mail, limit: int) -> tuple[int | None, str] | Reply:
    """The declared size and the upper-cased BODY value of a MAIL command, or the reply refusing them."""
    size = _declared_size(command)
    if isinstance(size, Reply):
        return size
    if limit and size is not None and size > limit:
        return R.SIZE_EXCEEDED  # RFC 1870 §6.1
    body = (command.param("BODY") or "").upper()
    if command.has_param("BODY") and body not in ("7BIT", "8BITMIME"):
        return R.UNSUPPORTED_PARAMETER  # RFC 6152: body-value is 7BIT or 8BITMIME, any case
    for key, _ in command.params:
        if key not in ("SIZE", "BODY"):
            return R.UNSUPPORTED_PARAMETER
    return size, body


def _declared_size(command: C.Mail) -> int | None | Reply:
    """The SIZE= parameter (RFC 1870 §6): absent, 1-20 ASCII digits, or a 501 when it is anything else."""
    if not command.has_param("SIZE"):
        return None
    value = command.param("SIZE") or ""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 20 else R.BAD_SIZE


def _replied(line: str, command: C.Command | None, reply: Reply) -> Replied:
    """The event, shared between sessions: the same line parses to the same cached command and gets the same
    reply, so the same (immutable) event recurs. Keyed by the line and the identities of command and reply
    (cheap to hash); each entry holds them, so no other object can take their ids while it exists."""
    key = (line, id(command), id(reply))
    known = _REPLIED.get(key)
    if known is None:
        known = _REPLIED.remember(key, Replied(line, command, reply))
    return known


_REPLIED: BoundedCache[tuple[str, int, int], Replied] = BoundedCache(1024)


def _misuse(state: ServerState, what: str) -> LocalProtocolError:
    return LocalProtocolError(f"server role, state {state.value}: illegal {what}")


_DEFAULT_CONFIG = ServerConfig()

#: The handler of each command (RFC 5321 §4.1.1), once it passed SEQUENCE_ERRORS.
_HANDLERS: dict[type, str] = {
    C.Ehlo: "_on_ehlo",
    C.Helo: "_on_helo",
    C.Mail: "_mail",
    C.Rcpt: "_rcpt",
    C.Data: "_on_data",
    C.Rset: "_on_rset",
    C.Noop: "_on_noop",
    C.Vrfy: "_on_vrfy",
    C.Help: "_on_help",
    C.Quit: "_on_quit",
}
