"""Hypothesis: arbitrary input never crashes either role, and the server keeps one reply per command line.

The server oracle below is independent of the engine: it cuts the input into lines at LF, and walks them
with the replies. In command mode every complete line must get exactly one reply; after a 354 the lines are
content until a line that is exactly ``.<CRLF>`` following a CRLF (or at the start), which gets one reply.
A 221 or 421 ends the session; an error reply that reaches the hard error limit is followed by one 421.
"""

import re

from hypothesis import given
from hypothesis import strategies as st

from maillab.smtp import (
    ClientConfig,
    MessageReceived,
    ServerConfig,
    SessionDone,
    Transaction,
    TransactionDone,
)

from .helpers import FUZZ, SERVER_LINE, Client, Server, lines_of, replies_in

DATA_LINE = re.compile(rb"^DATA *\r\n$", re.IGNORECASE)


BARE_DATA_LINE = re.compile(rb"^DATA *\n$", re.IGNORECASE)  # with bare_lf="accept", LF alone ends a command


def expect_session(stream: bytes, out: bytes, config: ServerConfig) -> dict:
    """Walk input lines against reply groups; return what the model saw."""
    for line in lines_of(out):
        assert SERVER_LINE.match(line), line
    assert out == b"" or out.endswith(b"\r\n")
    replies = [int(r[0][:3]) for r in replies_in(out)]
    seen = {"replies": 0, "messages": 0, "accepted": 0, "closed": False}
    errors, mode, after_crlf, rcpt_ok = 0, "command", True, False

    def take() -> int:
        assert seen["replies"] < len(replies), f"no reply for a line; model so far {seen}"
        seen["replies"] += 1
        return replies[seen["replies"] - 1]

    for line in lines_of(stream):
        if mode == "data":
            if line == b".\r\n" and after_crlf:
                code = take()
                mode, rcpt_ok = "command", False
                seen["messages"] += 1
                seen["accepted"] += code < 400
            else:
                after_crlf = line.endswith(b"\r\n")
                continue
        else:
            code = take()
            verb = line[:4].upper()
            if code == 354:
                data_line = DATA_LINE.match(line) or (config.bare_lf == "accept" and BARE_DATA_LINE.match(line))
                assert data_line and rcpt_ok, (line, rcpt_ok)
                mode, after_crlf = "data", True
            elif code < 300 and verb == b"RCPT":
                rcpt_ok = True
            elif code < 300 and verb in (b"MAIL", b"RSET", b"EHLO", b"HELO"):
                rcpt_ok = False
        if code in (221, 421):
            seen["closed"] = True
            break
        if code >= 400:
            errors += 1
            if errors >= config.hard_error_limit:
                assert take() == 421
                seen["closed"] = True
                break
    assert seen["replies"] == len(replies), f"{len(replies) - seen['replies']} replies too many"
    return seen


def run_server(stream: bytes, cuts: list[int], config: ServerConfig) -> None:
    cuts = sorted({c % (len(stream) + 1) for c in cuts})
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    server = Server(config, hello=None)
    out = server.send_in_pieces(pieces)
    seen = expect_session(stream, out, config)
    messages = [e for e in server.events if isinstance(e, MessageReceived)]
    assert len(messages) == seen["messages"]
    assert sum(m.accepted for m in messages) == seen["accepted"]
    assert server.conn.closed is seen["closed"]
    server.conn.receive_data(b"")
    server.pump()
    assert server.conn.closed and server.conn.next_event() is not None


CONFIGS = st.sampled_from([
    ServerConfig(),
    ServerConfig(hard_error_limit=3, max_recipients=2),
    ServerConfig(enhanced_status_codes=False, hard_error_limit=1000),
    ServerConfig(require_helo=False, max_message_size=200, hard_error_limit=1000),
    ServerConfig(bare_lf="accept", hard_error_limit=1000),
])
CUTS = st.lists(st.integers(0, 10_000), max_size=10)


@FUZZ
@given(stream=st.binary(max_size=2000), cuts=CUTS, config=CONFIGS)
def test_server_survives_arbitrary_bytes(stream, cuts, config):
    run_server(stream, cuts, config)


PLAUSIBLE = [
    b"EHLO c.example", b"HELO c.example", b"ehlo c.example", b"MAIL FROM:<a@b.example>", b"MAIL FROM:<>",
    b"mail from:<a@b.example> SIZE=100", b"MAIL FROM:<a@b.example> BODY=8BITMIME", b"MAIL FROM:<a@b.example> X=1",
    b"RCPT TO:<c@d.example>", b"RCPT TO:<c@d.example>", b"rcpt to:<e@f.example>", b"RCPT TO:<postmaster>",
    b"RCPT TO:<bad>", b"DATA", b"DATA", b"data", b"DATA x", b"RSET", b"NOOP", b"VRFY x", b"HELP", b"EXPN x",
    b"QUIT", b".", b".", b"..", b".x", b"Subject: hi", b"", b"hello world", b"x" * 600, b"y" * 1200,
]
LINE = st.one_of(st.sampled_from(PLAUSIBLE), st.binary(max_size=12))
ENDING = st.sampled_from([b"\r\n"] * 8 + [b"\n", b"\r", b""])
ANY_LINE = st.tuples(LINE, ENDING).map(b"".join)
CONTENT_LINE = st.tuples(st.sampled_from([b"", b".", b"..", b".x", b"QUIT", b"text", b"x" * 1001]) | st.binary(
    max_size=8), st.sampled_from([b"\r\n"] * 6 + [b"\n", b""])).map(b"".join)
TRANSACTION = st.tuples(
    st.sampled_from([b"MAIL FROM:<a@b.example>\r\n", b"MAIL FROM:<>\r\n", b"RSET\r\n"]),
    st.lists(st.sampled_from([b"RCPT TO:<c@d.example>\r\n", b"RCPT TO:<e@f.example>\r\n", b"RCPT TO:<x>\r\n"]),
             min_size=1, max_size=4).map(b"".join),
    st.sampled_from([b"DATA\r\n"] * 5 + [b"DATA\n"]),
    st.lists(CONTENT_LINE, max_size=6).map(b"".join),
    st.sampled_from([b"\r\n.\r\n"] * 5 + [b".\r\n", b".\n", b""]),
).map(b"".join)
SESSION = st.tuples(
    st.sampled_from([b"EHLO c.example\r\n"] * 3 + [b"HELO c.example\r\n", b""]),
    st.lists(st.one_of(TRANSACTION, ANY_LINE), max_size=12).map(b"".join),
).map(b"".join)


@FUZZ
@given(stream=SESSION, cuts=CUTS, config=CONFIGS)
def test_server_plausible_sessions_keep_one_reply_per_command(stream, cuts, config):
    run_server(stream, cuts, config)


@FUZZ
@given(stream=SESSION, config=CONFIGS)
def test_server_output_does_not_depend_on_chunking(stream, config):
    whole = Server(config, hello=None)
    out = whole.send(stream) if stream else b""
    bytewise = Server(config, hello=None)
    assert bytewise.send_in_pieces([stream[i:i + 1] for i in range(len(stream))]) == out
    assert bytewise.events == whole.events


# --- the client --------------------------------------------------------------------------------------------

TRANSACTIONS = [
    Transaction("a@example.org", ("b@example.net", "c@example.net"), b"one\r\n.\r\n"),
    Transaction("", ("d@example.net",), b"x" * 80),
    Transaction("a@example.org", ("e@example.net",), "caf\u00e9\n".encode()),
]
REPLIES = [
    b"220 mx", b"220-mx", b"250 ok", b"250 ok", b"250 ok", b"250-mx", b"250-PIPELINING", b"250-SIZE 50",
    b"250-SIZE", b"250-8BITMIME", b"250 2.1.5 ok", b"251 fwd", b"354 go", b"354 go", b"550 5.1.1 no", b"450 later",
    b"451 4.3.0 x", b"421 bye", b"221 bye", b"500 what", b"502 no", b"554 no", b"150 x", b"250-", b"250",
]
REPLY_STREAM = st.lists(
    st.tuples(st.one_of(st.sampled_from(REPLIES), st.binary(max_size=10)), ENDING).map(b"".join), max_size=30
).map(b"".join)


def run_client(stream: bytes, cuts: list[int], pipelining: bool, timeout: bool) -> None:
    client = Client(TRANSACTIONS, ClientConfig("client.example", pipelining="auto" if pipelining else "off"))
    cuts = sorted({c % (len(stream) + 1) for c in cuts})
    out = b""
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        if stream[a:b]:
            out += client.feed(stream[a:b])
    if timeout:
        client.conn.timed_out()
    else:
        client.conn.connection_lost()
    out += client.pump()
    assert client.conn.done and client.conn.timeout is None
    assert isinstance(client.events[-1], SessionDone)
    assert sum(isinstance(e, SessionDone) for e in client.events) == 1
    results = [e.result for e in client.events if isinstance(e, TransactionDone)]
    assert [r.transaction for r in results] == TRANSACTIONS
    for result in results:
        assert tuple(r.recipient for r in result.recipients) == result.transaction.recipients
        assert not result.duplicate_window or out.endswith(b".\r\n") or b"\r\n.\r\n" in out
    assert sum(r.duplicate_window for r in results) <= 1
    client.conn.connection_lost()
    assert client.pump() == b""


@FUZZ
@given(stream=st.binary(max_size=1500), cuts=CUTS, pipelining=st.booleans(), timeout=st.booleans())
def test_client_survives_arbitrary_bytes(stream, cuts, pipelining, timeout):
    run_client(stream, cuts, pipelining, timeout)


@FUZZ
@given(stream=REPLY_STREAM, cuts=CUTS, pipelining=st.booleans(), timeout=st.booleans())
def test_client_survives_plausible_replies(stream, cuts, pipelining, timeout):
    run_client(stream, cuts, pipelining, timeout)
