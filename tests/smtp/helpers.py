"""Byte-level harnesses shared by the SMTP engine tests (h11 style: bytes in, bytes and events out)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from hypothesis import HealthCheck, settings

from maillab.smtp import (
    NEED_DATA,
    ClientConfig,
    ClientConnection,
    Closed,
    MessageReceived,
    Replied,
    ServerConfig,
    ServerConnection,
    ServerPolicy,
    SessionDone,
    Transaction,
    TransactionDone,
    TransactionResult,
)

#: RFC 5321 §4.2 grammar: Reply-code [ ("-" / SP) textstring ] CRLF, codes 2xx-5xx only.
REPLY_LINE = re.compile(rb"^[2-5][0-9][0-9]([ -][^\r\n]*)?\r\n$")
#: What this server always sends: the separator is never omitted (its replies always have text).
SERVER_LINE = re.compile(rb"^[2-5][0-9][0-9][ -][^\r\n]*\r\n$")
_ENHANCED = re.compile(rb"^([245])\.[0-9]{1,3}\.[0-9]{1,3}$")

HELLO = b"EHLO client.example\r\n"
MAIL = b"MAIL FROM:<alice@example.org>\r\n"
RCPT = b"RCPT TO:<bob@example.net>\r\n"


# --- reading the server's output ---------------------------------------------------------------------------

def lines_of(data: bytes) -> list[bytes]:
    """Complete lines, each with its LF; a trailing partial line is dropped."""
    return [line for line in data.splitlines(keepends=True) if line.endswith(b"\n")]


def replies_in(data: bytes) -> list[list[bytes]]:
    """Group wire lines into replies: ``250-`` continues, ``250 `` (or a bare ``250``) ends one."""
    replies: list[list[bytes]] = []
    current: list[bytes] = []
    for line in lines_of(data):
        current.append(line)
        if line[3:4] != b"-":
            replies.append(current)
            current = []
    assert not current, f"unterminated multi-line reply {current!r}"
    return replies


def enhanced_of(line: bytes) -> bytes | None:
    head = line[4:].split(b" ", 1)[0].rstrip(b"\r\n")
    return head if _ENHANCED.match(head) else None


def summary(data: bytes) -> list[str]:
    """One ``"code[ enhanced]"`` string per reply, from its first line: ``["250 2.1.0", "354"]``."""
    out = []
    for reply in replies_in(data):
        first = reply[0]
        enhanced = enhanced_of(first)
        out.append(first[:3].decode() + (" " + enhanced.decode() if enhanced else ""))
    return out


# --- driving a server --------------------------------------------------------------------------------------

class Server:
    """A started server, optionally past EHLO; ``send`` feeds bytes and returns everything it answered."""

    def __init__(
        self,
        config: ServerConfig | None = None,
        policy: ServerPolicy | None = None,
        hello: bytes | None = HELLO,
    ) -> None:
        self.conn = ServerConnection(policy, config)
        self.events: list[object] = []
        self.conn.start()
        self.greeting = self.pump()
        self.hello_reply = self.send(hello) if hello else b""
        self.setup_events, self.events = self.events, []

    def pump(self) -> bytes:
        while (event := self.conn.next_event()) is not NEED_DATA:
            self.events.append(event)
        return self.conn.data_to_send()

    def send(self, data: bytes) -> bytes:
        self.conn.receive_data(data)
        return self.pump()

    def send_in_pieces(self, pieces: Sequence[bytes]) -> bytes:
        """Each non-empty piece in its own receive_data (an empty one would mean end of input)."""
        return b"".join(self.send(piece) for piece in pieces if piece)

    @property
    def messages(self) -> list[MessageReceived]:
        return [e for e in self.events if isinstance(e, MessageReceived)]

    @property
    def accepted_messages(self) -> list[MessageReceived]:
        return [e for e in self.messages if e.accepted]

    @property
    def replied(self) -> list[Replied]:
        return [e for e in self.events if isinstance(e, Replied)]

    @property
    def closes(self) -> list[Closed]:
        return [e for e in self.setup_events + self.events if isinstance(e, Closed)]


# --- driving a client --------------------------------------------------------------------------------------

GREETING = b"220 mx.example ESMTP\r\n"
EHLO_PIPELINING = (
    b"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
)
EHLO_PLAIN = b"250-mx.example\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
EHLO_BARE = b"250 mx.example\r\n"
OK = b"250 2.0.0 Ok\r\n"
GO_AHEAD = b"354 End data with <CR><LF>.<CR><LF>\r\n"


def transaction(*recipients: str, content: bytes = b"Subject: hi\r\n\r\nhello\r\n", sender: str = "alice@example.org",
                tag: str = "") -> Transaction:
    return Transaction(sender, recipients or ("bob@example.net",), content, tag)


class Client:
    """A client connection; ``feed`` hands it server bytes and returns what it wrote back."""

    def __init__(self, transactions: Sequence[Transaction], config: ClientConfig | None = None) -> None:
        self.conn = ClientConnection(transactions, config or ClientConfig(helo_name="client.example"))
        self.transactions = list(transactions)
        self.events: list[object] = []

    def pump(self) -> bytes:
        while (event := self.conn.next_event()) is not NEED_DATA:
            self.events.append(event)
        return self.conn.data_to_send()

    def feed(self, data: bytes) -> bytes:
        self.conn.receive_data(data)
        return self.pump()

    def lose(self) -> bytes:
        self.conn.connection_lost()
        return self.pump()

    @property
    def results(self) -> list[TransactionResult]:
        return [e.result for e in self.events if isinstance(e, TransactionDone)]

    @property
    def session_done(self) -> list[SessionDone]:
        return [e for e in self.events if isinstance(e, SessionDone)]


def started_client(
    transactions: Sequence[Transaction], ehlo: bytes = EHLO_PLAIN, config: ClientConfig | None = None
) -> tuple[Client, bytes]:
    """A client past greeting and EHLO; returns it and the bytes it wrote after the EHLO reply."""
    client = Client(transactions, config)
    assert client.feed(GREETING) == b"EHLO client.example\r\n"
    return client, client.feed(ehlo)


def mail_line(t: Transaction, params: bytes = b"") -> bytes:
    return b"MAIL FROM:<" + t.sender.encode() + b">" + params + b"\r\n"


def rcpt_line(recipient: str) -> bytes:
    return b"RCPT TO:<" + recipient.encode() + b">\r\n"


# --- hypothesis ---------------------------------------------------------------------------------------------
# Local settings (not a global profile: other test directories keep their own). Derandomized by default so the
# suite is reproducible; SMTP_FUZZ_EXAMPLES=5000 SMTP_FUZZ_RANDOM=1 for a deeper, randomized search.

FUZZ = settings(
    max_examples=int(os.environ.get("SMTP_FUZZ_EXAMPLES", "150")),
    deadline=None,
    derandomize=not os.environ.get("SMTP_FUZZ_RANDOM"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
