"""The client role of the sans-I/O SMTP engine: one connection, one or more mail transactions.

    client = ClientConnection([Transaction("a@x.example", ("b@y.example",), content)], ClientConfig("x.example"))
    client.receive_data(bytes_from_server)           # b"" when the server closed
    while (event := client.next_event()) is not NEED_DATA:
        ...                                          # ServerReplied / TransactionDone / SessionDone
    wire.write(client.data_to_send())
    client.timeout                                   # seconds the embedding should wait for the next reply

The client acts on the first digit of each reply (RFC 5321 §4.2.1), says EHLO and falls back to HELO,
pipelines MAIL/RCPT/DATA when the server advertises PIPELINING (RFC 2920 §3.1), and reports a result for
every recipient of every transaction. A lost connection is a 451 for the open transaction (§3.8); if it
happens after the final dot was sent and before its reply, the result says so: the RFC 1047 window in which
the message may be delivered twice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

from maillab.errors import LocalProtocolError, RemoteProtocolError
from maillab.smtp import commands as C
from maillab.smtp import replies as R
from maillab.smtp.caching import BoundedCache
from maillab.smtp.reader import double_dots, normalize_line_ends
from maillab.smtp.replies import Reply, ReplyParser
from maillab.smtp.server import NEED_DATA, _NeedData

MAX_REPLY_LINE = 8192  # a reply line longer than this is a protocol violation, not a buffer to grow


class Stage(Enum):
    """What the client was waiting for: names the point at which a result was decided."""

    GREETING = "greeting"
    HELLO = "hello"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    CONTENT = "content"  # the reply to the final dot
    RSET = "rset"
    QUIT = "quit"
    SESSION = "session"  # never reached: the session ended before this transaction


class Status(Enum):
    ACCEPTED = "accepted"  # the server took responsibility (RFC 5321 §4.2.5)
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class ClientTimeouts:
    """Seconds to wait for each reply: RFC 5321 §4.5.3.2 minimums, Postfix's smtp_*_timeout defaults."""

    greeting: float = 300.0
    hello: float = 300.0
    mail: float = 300.0
    rcpt: float = 300.0
    data_init: float = 120.0
    data_block: float = 180.0
    data_done: float = 600.0
    rset: float = 300.0
    quit: float = 300.0

    def for_stage(self, stage: Stage) -> float:
        value: float = getattr(self, _TIMEOUT_FIELD.get(stage, "hello"))
        return value


# The stages as module globals for the per-reply path: on Python 3.11 every ``Stage.RCPT`` goes through
# EnumType.__getattr__ (about 0.15 µs); a global is read in a tenth of that.
_GREETING, _HELLO, _MAIL, _RCPT, _DATA = Stage.GREETING, Stage.HELLO, Stage.MAIL, Stage.RCPT, Stage.DATA
_CONTENT, _RSET, _QUIT, _SESSION = Stage.CONTENT, Stage.RSET, Stage.QUIT, Stage.SESSION

_TIMEOUT_FIELD = {
    Stage.GREETING: "greeting", Stage.HELLO: "hello", Stage.MAIL: "mail", Stage.RCPT: "rcpt",
    Stage.DATA: "data_init", Stage.CONTENT: "data_done", Stage.RSET: "rset", Stage.QUIT: "quit",
}


@dataclass(frozen=True, slots=True)
class ClientConfig:
    helo_name: str = "localhost"
    pipelining: str = "auto"  # "auto": when advertised; "off": never
    timeouts: ClientTimeouts = field(default_factory=ClientTimeouts)

    def __post_init__(self) -> None:
        if self.pipelining not in ("auto", "off"):
            raise LocalProtocolError(f"pipelining must be 'auto' or 'off', got {self.pipelining!r}")


@dataclass(frozen=True, slots=True)
class Transaction:
    """One message to send: envelope and content (RFC 5322 bytes, not yet dot-stuffed)."""

    sender: str
    recipients: tuple[str, ...]
    content: bytes
    tag: str = ""  # the caller's name for it (a queue id), carried into the result

    def __post_init__(self) -> None:
        if not self.recipients:
            raise LocalProtocolError("a transaction needs at least one recipient")


@dataclass(frozen=True, slots=True)
class RecipientResult:
    recipient: str
    reply: Reply
    stage: Stage

    @property
    def status(self) -> Status:
        if self.reply.is_positive:
            return Status.ACCEPTED
        return Status.TEMPORARY if self.reply.is_transient else Status.PERMANENT


@dataclass(frozen=True, slots=True)
class TransactionResult:
    transaction: Transaction
    recipients: tuple[RecipientResult, ...]
    duplicate_window: bool = False  # final dot sent, reply never came: may arrive twice (RFC 1047)


@dataclass(frozen=True, slots=True)
class ServerReplied:
    stage: Stage
    command: C.Command | None  # None for the greeting and the final dot
    reply: Reply


@dataclass(frozen=True, slots=True)
class TransactionDone:
    result: TransactionResult


@dataclass(frozen=True, slots=True)
class SessionDone:
    """No more to say: the embedding closes the connection. ``reply`` is what ended it, if a reply did."""

    reply: Reply | None


ClientEvent = ServerReplied | TransactionDone | SessionDone


class _Pending:
    """A reply the client waits for: what it answers. One per command sent, so a plain slotted class
    (a frozen dataclass costs one object.__setattr__ per field to build)."""

    __slots__ = ("stage", "command", "recipient")

    def __init__(self, stage: Stage, command: C.Command | None, recipient: str | None = None) -> None:
        self.stage = stage
        self.command = command
        self.recipient = recipient


class _Open:
    """Book-keeping of the transaction in progress."""

    __slots__ = ("transaction", "results", "accepted", "mail_ok", "dot_sent", "rcpt_replies", "_normalized")

    def __init__(self, transaction: Transaction) -> None:
        self.transaction = transaction
        self._normalized: bytes | None = None
        self.rcpt_replies = 0
        self.results: dict[str, RecipientResult] = {}
        self.accepted: list[str] = []
        self.mail_ok = False
        self.dot_sent = False

    def fail_open(self, reply: Reply, stage: Stage) -> None:
        """Every recipient without a final result gets ``reply``."""
        for rcpt in self.transaction.recipients:
            if rcpt not in self.results or rcpt in self.accepted:
                self.results[rcpt] = _recipient_result(rcpt, reply, stage)
        self.accepted.clear()

    def normalized(self) -> bytes:
        """The content with CRLF line ends, computed once: it gives both SIZE= and the stuffed content."""
        if self._normalized is None:
            self._normalized = normalize_line_ends(self.transaction.content)
        return self._normalized

    def result(self, duplicate_window: bool = False) -> TransactionResult:
        ordered = tuple(self.results[r] for r in self.transaction.recipients)
        return TransactionResult(self.transaction, ordered, duplicate_window)


class ClientConnection:
    """One SMTP client session, bytes in and bytes out."""

    def __init__(
        self, transactions: Sequence[Transaction], config: ClientConfig | None = None, linger: bool = False
    ) -> None:
        """``linger``: when the transactions are done, stay connected (idle) for ``add`` or ``quit``."""
        self.config = config or ClientConfig()
        self.linger = linger
        self._ready = False
        self._todo: deque[Transaction] = deque(transactions)
        self._open: _Open | None = None
        self._pending: deque[_Pending] = deque([_Pending(_GREETING, None)])
        self._lines: deque[bytes] = deque()  # complete reply lines received, each with its CR still on
        self._partial = b""  # received after the last LF
        self._outbox: list[bytes] = []  # joined by data_to_send: appending copies nothing
        self._events: deque[ClientEvent] = deque()
        self._parser = ReplyParser()
        self._keywords: Mapping[str, str] = {}
        self._tried_helo = False
        self._need_rset = False
        self.done = False

    # --- the sans-I/O surface ------------------------------------------------------------------------------

    @property
    def pipelining(self) -> bool:
        return self.config.pipelining == "auto" and "PIPELINING" in self._keywords

    @property
    def server_size_limit(self) -> int | None:
        value = self._keywords.get("SIZE", "")
        return int(value) if value.isascii() and value.isdigit() and int(value) > 0 else None

    @property
    def timeout(self) -> float | None:
        """Seconds to wait for the next reply (RFC 5321 §4.5.3.2), or None when nothing is awaited."""
        if self.done or not self._pending:
            return None
        return self.config.timeouts.for_stage(self._pending[0].stage)

    @property
    def idle(self) -> bool:
        """Lingering between transactions: ``add`` starts another at once, ``quit`` ends the session."""
        return self._ready and not self.done and self._open is None and not self._pending

    def add(self, transaction: Transaction) -> None:
        """Queue one more transaction on this connection (connection reuse)."""
        if self.done or (self._pending and self._pending[-1].stage is _QUIT):
            raise LocalProtocolError("client role: add() after the session ended or QUIT was sent")
        self._todo.append(transaction)
        if self.idle:
            self._next_transaction()

    def quit(self) -> None:
        """End a lingering session with QUIT."""
        if not self.idle:
            raise LocalProtocolError("client role: quit() is only legal while idle")
        self._send(_QUIT_COMMAND, _QUIT)

    @property
    def in_duplicate_window(self) -> bool:
        return self._open is not None and self._open.dot_sent

    def receive_data(self, data: bytes) -> None:
        if self.done:
            return
        if not data:
            self.connection_lost()
            return
        # Cut into lines once per read, not once per line: bytes.split is one C call for all of them.
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        self._lines.extend(lines)

    def next_event(self) -> ClientEvent | _NeedData:
        while not self._events and not self.done and self._step():
            pass
        return self._events.popleft() if self._events else NEED_DATA

    def data_to_send(self) -> bytes:
        out = b"".join(self._outbox)
        self._outbox.clear()
        return out

    def connection_lost(self) -> None:
        """The transport failed or the server closed: 451 for whatever is open (RFC 5321 §3.8)."""
        self._abort(R.CONNECTION_LOST)

    def timed_out(self) -> None:
        """The embedding's timer for ``timeout`` expired: the session is abandoned."""
        self._abort(R.CONVERSATION_TIMEOUT)

    # --- reading replies -----------------------------------------------------------------------------------

    def _step(self) -> bool:
        """Consume one reply line; False when no complete line is buffered."""
        if not self._lines:
            if len(self._partial) > MAX_REPLY_LINE:
                self._abort(R.PROTOCOL_VIOLATION)
            return False
        line = self._lines.popleft().rstrip(b"\r")
        try:
            reply = self._parser.feed_line(line)
        except RemoteProtocolError:
            self._abort(R.PROTOCOL_VIOLATION)
            return True
        if reply is not None:
            self._on_reply(reply)
        return True

    def _on_reply(self, reply: Reply) -> None:
        if not self._pending:
            self._abort(R.PROTOCOL_VIOLATION)  # a reply nobody asked for
            return
        pending = self._pending.popleft()
        self._events.append(_server_replied(pending.stage, pending.command, reply))
        if reply.code == 421 and pending.stage is not _QUIT:
            self._abort(reply, closing=True, stage=pending.stage)
            return
        _HANDLERS[pending.stage._value_](self, pending, reply)

    def _on_greeting(self, pending: _Pending, reply: Reply) -> None:
        if reply.is_positive:
            self._send_prepared(C.Ehlo, self.config.helo_name, _HELLO)
        else:
            self._fail_everything(reply, _GREETING)

    def _on_hello(self, pending: _Pending, reply: Reply) -> None:
        if reply.is_positive:
            if isinstance(pending.command, C.Ehlo):
                self._keywords = _parse_keywords(reply)
            self._ready = True
            self._next_transaction()
        elif isinstance(pending.command, C.Ehlo) and reply.is_permanent and not self._tried_helo:
            self._tried_helo = True  # RFC 5321 §3.2: EHLO not recognised -> HELO
            self._send_prepared(C.Helo, self.config.helo_name, _HELLO)
        else:
            self._fail_everything(reply, _HELLO)

    def _on_mail(self, pending: _Pending, reply: Reply) -> None:
        assert self._open is not None
        self._open.mail_ok = reply.is_positive
        if not reply.is_positive:
            self._open.fail_open(reply, _MAIL)
            if not self.pipelining:
                self._finish_transaction()
        elif not self.pipelining:
            first = self._open.transaction.recipients[0]
            self._send_prepared(C.Rcpt, first, _RCPT)

    def _on_rcpt(self, pending: _Pending, reply: Reply) -> None:
        opened = self._open
        assert opened is not None and pending.recipient is not None
        if not opened.mail_ok:
            return  # pipelined behind a failed MAIL: the MAIL reply already decided
        opened.results[pending.recipient] = _recipient_result(pending.recipient, reply, _RCPT)
        opened.rcpt_replies += 1
        if reply.is_positive:
            opened.accepted.append(pending.recipient)
        if self.pipelining:
            return
        recipients = opened.transaction.recipients
        if opened.rcpt_replies < len(recipients):
            following = recipients[opened.rcpt_replies]
            self._send_prepared(C.Rcpt, following, _RCPT)
        elif opened.accepted:
            self._send(_DATA_COMMAND, _DATA)
        else:
            self._need_rset = True
            self._finish_transaction()

    def _on_data(self, pending: _Pending, reply: Reply) -> None:
        opened = self._open
        assert opened is not None
        if reply.is_positive and reply.code < 300:
            self._abort(R.PROTOCOL_VIOLATION, stage=_DATA)  # 2xx to DATA: no content was sent
            return
        if reply.code < 400:  # 354, or any 3xx: act on the first digit (RFC 5321 §4.2.1)
            if opened.accepted:
                self._outbox.append(double_dots(opened.normalized()))
            self._outbox.append(b".\r\n")
            opened.dot_sent = True
            self._pending.append(_Pending(_CONTENT, None))
            return
        if opened.accepted:
            opened.fail_open(reply, _DATA)
        self._need_rset = opened.mail_ok
        self._finish_transaction()

    def _on_content(self, pending: _Pending, reply: Reply) -> None:
        opened = self._open
        assert opened is not None
        opened.dot_sent = False
        for rcpt in opened.accepted:
            opened.results[rcpt] = _recipient_result(rcpt, reply, _CONTENT)
        opened.accepted.clear()
        self._finish_transaction()

    def _on_rset(self, pending: _Pending, reply: Reply) -> None:
        """Without pipelining, the transaction waiting behind RSET starts now (RFC 2920 §3.1)."""
        if self._open is not None and not self.pipelining:
            self._send_mail(self._open)

    def _on_quit(self, pending: _Pending, reply: Reply) -> None:
        self.done = True
        self._events.append(SessionDone(reply))

    # --- writing commands ----------------------------------------------------------------------------------

    def _send(self, command: C.Command, stage: Stage) -> None:
        self._outbox.append(C.command_line(command))
        self._pending.append(_Pending(stage, command))

    def _send_prepared(self, kind: Callable[[str], C.Command], argument: str, stage: Stage) -> None:
        """EHLO, HELO or RCPT: the command and its line come from a cache, as names and recipients recur."""
        key = (kind, argument)
        prepared = _PREPARED.get(key)
        if prepared is None:
            command = kind(argument)
            prepared = _PREPARED.remember(key, (command, C.command_line(command)))
        self._outbox.append(prepared[1])
        self._pending.append(_Pending(stage, prepared[0], argument if stage is _RCPT else None))

    def _next_transaction(self) -> None:
        """Start the next transaction, or QUIT when there is none."""
        while self._todo:
            opened = self._open = _Open(self._todo.popleft())
            refusal = self._size_refusal(opened)
            if refusal is None:
                self._start(opened)
                return
            self._open.fail_open(refusal, _MAIL)
            self._emit_result()
        self._open = None
        if not self.linger:
            self._send(_QUIT_COMMAND, _QUIT)

    def _start(self, opened: _Open) -> None:
        if self._need_rset:
            self._send(_RSET_COMMAND, _RSET)
            self._need_rset = False
            if not self.pipelining:
                return  # MAIL follows RSET's reply
        self._send_mail(opened)

    def _send_mail(self, opened: _Open) -> None:
        self._send(C.Mail(opened.transaction.sender, self._mail_params(opened)), _MAIL)
        if self.pipelining:  # RFC 2920 §3.1: MAIL and RCPTs anywhere in a group, DATA last
            for rcpt in opened.transaction.recipients:
                self._send_prepared(C.Rcpt, rcpt, _RCPT)
            self._send(_DATA_COMMAND, _DATA)

    def _mail_params(self, opened: _Open) -> C.Params:
        if not self._keywords:
            return ()  # HELO session: no parameters (RFC 5321 §4.1.1.2)
        params: list[tuple[str, str | None]] = []
        if "SIZE" in self._keywords:
            params.append(("SIZE", str(len(opened.normalized()))))  # RFC 1870 §5-6
        if "8BITMIME" in self._keywords and not opened.transaction.content.isascii():
            params.append(("BODY", "8BITMIME"))  # RFC 6152
        return tuple(params)

    def _size_refusal(self, opened: _Open) -> Reply | None:
        limit, size = self.server_size_limit, len(opened.normalized())
        if limit is not None and size > limit:
            return R.SIZE_EXCEEDED.with_text(f"message size {size} exceeds server limit {limit}")
        return None

    def _finish_transaction(self) -> None:
        self._emit_result()
        self._next_transaction()

    def _emit_result(self, duplicate_window: bool = False) -> None:
        assert self._open is not None
        self._events.append(TransactionDone(self._open.result(duplicate_window)))
        self._open = None

    # --- endings -------------------------------------------------------------------------------------------

    def _fail_everything(self, reply: Reply, stage: Stage) -> None:
        """The session cannot carry mail (greeting or EHLO/HELO refused): fail all, say QUIT."""
        self._fail_remaining(reply, stage)
        self._send(_QUIT_COMMAND, _QUIT)

    def _fail_remaining(self, reply: Reply, stage: Stage) -> None:
        for transaction in self._todo:
            self._open = _Open(transaction)
            self._open.fail_open(reply, stage)
            self._emit_result()
        self._todo.clear()

    def _abort(self, reply: Reply, closing: bool = False, stage: Stage | None = None) -> None:
        """The session ends now: the open transaction and every later one fail with ``reply``.
        ``stage``: what was being waited for (default: the first pending reply)."""
        if self.done:
            return
        if stage is None:
            stage = self._pending[0].stage if self._pending else _SESSION
        if self._open is not None:
            duplicate = self._open.dot_sent and not closing
            self._open.fail_open(reply, stage)
            self._emit_result(duplicate_window=duplicate)
        if stage in (_GREETING, _HELLO):
            self._fail_remaining(reply, stage)  # no transaction could start: each fails where the session did
        else:
            self._fail_remaining(_not_attempted(reply), _SESSION)
        self._pending.clear()
        self.done = True
        self._events.append(SessionDone(reply))


def _server_replied(stage: Stage, command: C.Command | None, reply: Reply) -> ServerReplied:
    """The event, shared between sessions: commands and replies come from caches, so the same (immutable)
    event recurs. Keyed by the parts' identities, cheap to hash; each entry holds its parts, so no other
    object can take their ids while it exists."""
    key = (id(stage), id(command), id(reply))
    known = _SERVER_REPLIED.get(key)
    if known is None:
        known = _SERVER_REPLIED.remember(key, ServerReplied(stage, command, reply))
    return known


def _recipient_result(recipient: str, reply: Reply, stage: Stage) -> RecipientResult:
    """The result, shared between sessions like ``_server_replied``: keyed by the recipient and the
    identities of reply and stage."""
    key = (recipient, id(reply), id(stage))
    known = _RECIPIENT_RESULTS.get(key)
    if known is None:
        known = _RECIPIENT_RESULTS.remember(key, RecipientResult(recipient, reply, stage))
    return known


def _not_attempted(reply: Reply) -> Reply:
    return reply if reply.code == 421 else R.NOT_ATTEMPTED


def _parse_keywords(reply: Reply) -> Mapping[str, str]:
    """EHLO keywords and their parameters, from the lines after the first (RFC 5321 §4.1.1.1).
    Read-only and shared by every session that got the same EHLO reply."""
    known = _KEYWORDS.get(reply.text)
    if known is None:
        known = _KEYWORDS.remember(reply.text, MappingProxyType(_keywords_of(reply)))
    return known


def _keywords_of(reply: Reply) -> dict[str, str]:
    keywords = {}
    for line in reply.lines[1:]:
        keyword, _, params = line.strip().partition(" ")
        if keyword:
            keywords[keyword.upper()] = params
    return keywords


#: Commands without arguments are all alike: one of each serves every session.
_DATA_COMMAND, _RSET_COMMAND, _QUIT_COMMAND = C.Data(), C.Rset(), C.Quit()

#: Events and results with their parts from the caches above recur in every session (bounded; immutable).
_SERVER_REPLIED: BoundedCache[tuple[int, int, int], ServerReplied] = BoundedCache(1024)
_RECIPIENT_RESULTS: BoundedCache[tuple[str, int, int], RecipientResult] = BoundedCache(1024)

#: EHLO keywords by the text of the EHLO reply (bounded; read-only mappings).
_KEYWORDS: BoundedCache[str, Mapping[str, str]] = BoundedCache(256)

#: One-argument commands with their wire lines, by command type and argument (bounded; values immutable).
_PREPARED: BoundedCache[tuple[Callable[[str], C.Command], str], tuple[C.Command, bytes]] = BoundedCache(1024)

#: The handler of each stage's reply, keyed by the stage's value: a str hashes in C, an Enum member in Python.
_HANDLERS = {
    Stage.GREETING.value: ClientConnection._on_greeting,
    Stage.HELLO.value: ClientConnection._on_hello,
    Stage.MAIL.value: ClientConnection._on_mail,
    Stage.RCPT.value: ClientConnection._on_rcpt,
    Stage.DATA.value: ClientConnection._on_data,
    Stage.CONTENT.value: ClientConnection._on_content,
    Stage.RSET.value: ClientConnection._on_rset,
    Stage.QUIT.value: ClientConnection._on_quit,
}
