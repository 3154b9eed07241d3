"""The server reading message content after 354 (RFC 5321 §4.1.1.4, §4.5.2, §4.5.3.1.6; RFC 1870)."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maillab.smtp import Closed, DefaultPolicy, MessageReceived, ServerConfig
from maillab.smtp import replies as R

from .helpers import FUZZ, MAIL, RCPT, Server, summary

SETUP = MAIL + RCPT + b"DATA\r\n"


class Counting(DefaultPolicy):
    """Counts message() calls: the policy must not see content the engine refused."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[bytes] = []

    def message(self, session, envelope):
        self.messages.append(envelope.content)
        return super().message(session, envelope)


def in_data(config=None, policy=None) -> Server:
    server = Server(config, policy)
    assert summary(server.send(SETUP)) == ["250 2.1.0", "250 2.1.5", "354"]
    server.events.clear()
    return server


UNSTUFF = [
    ("plain", b"Subject: x\r\n\r\nhello\r\n", b"Subject: x\r\n\r\nhello\r\n"),
    ("empty message", b"", b""),
    ("one empty line", b"\r\n", b"\r\n"),
    ("leading dot on the first line", b"..hidden\r\n", b".hidden\r\n"),
    ("leading dot on a later line", b"a\r\n..b\r\n", b"a\r\n.b\r\n"),
    ("a line of only '..' is a line of '.'", b"a\r\n..\r\nb\r\n", b"a\r\n.\r\nb\r\n"),
    ("a first line of '..'", b"..\r\n", b".\r\n"),
    ("three dots lose one", b"...\r\n", b"..\r\n"),
    ("unstuffed dot with text loses it (§4.5.2)", b".x\r\n", b"x\r\n"),
    ("dots mid-line untouched", b"a.b.\r\n", b"a.b.\r\n"),
    ("'QUIT' is content here", b"QUIT\r\nRSET\r\n", b"QUIT\r\nRSET\r\n"),
    ("8-bit and NUL are content", b"caf\xc3\xa9 \x00\r\n", b"caf\xc3\xa9 \x00\r\n"),
    ("<LF>.<LF> does not end the data", b"a\n.\nb\r\n", b"a\n.\nb\r\n"),
    ("<CR>.<CR> does not end the data", b"a\r.\rb\r\n", b"a\r.\rb\r\n"),
    ("'. ' is not the end", b". \r\n", b" \r\n"),
]


@pytest.mark.parametrize("wire, content", [u[1:] for u in UNSTUFF], ids=[u[0] for u in UNSTUFF])
def test_content_is_unstuffed(wire, content):
    policy = Counting()
    server = in_data(policy=policy)
    assert summary(server.send(wire + b".\r\n")) == ["250 2.0.0"]
    [message] = server.messages
    assert message == MessageReceived("alice@example.org", ("bob@example.net",), content, R.QUEUED)
    assert message.accepted and policy.messages == [content]


@pytest.mark.parametrize("smuggled", [b"a\r\n.\nb\r\n", b"a\n.\r\nb\r\n", b"a\n.\nb\r\n", b"a\r\n.\rb\r\n"],
                         ids=["CRLF . LF", "LF . CRLF", "LF . LF", "CRLF . CR"])
def test_only_crlf_dot_crlf_ends_the_data(smuggled):
    """§4.1.1.4 and the SMTP-smuggling case: anything but <CRLF>.<CRLF> is content."""
    server = in_data()
    assert server.send(smuggled) == b""
    assert server.messages == []
    assert summary(server.send(b"MAIL FROM:<evil@example.org>\r\n.\r\n")) == ["250 2.0.0"]
    [message] = server.messages
    assert message.content.endswith(b"b\r\nMAIL FROM:<evil@example.org>\r\n")


def test_354_is_exact_and_data_state_is_entered():
    server = Server()
    assert server.send(SETUP).endswith(b"354 End data with <CR><LF>.<CR><LF>\r\n")


def test_after_the_message_the_transaction_is_over():
    server = in_data()
    out = server.send(b"hi\r\n.\r\nRCPT TO:<c@d.example>\r\nDATA\r\n" + MAIL)
    assert summary(out) == ["250 2.0.0", "503 5.5.1", "503 5.5.1", "250 2.1.0"]
    assert server.conn.session.transactions == 1


STREAM = SETUP + b"..a\r\n\r\n..\r\n.b\r\nend\r\n.\r\nNOOP\r\n"


def whole_stream_result():
    server = Server()
    return server.send(STREAM), server.messages


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_content_split_at_every_byte(cut):
    expected_out, expected_messages = whole_stream_result()
    assert summary(expected_out) == ["250 2.1.0", "250 2.1.5", "354", "250 2.0.0", "250 2.0.0"]
    assert [m.content for m in expected_messages] == [b".a\r\n\r\n.\r\nb\r\nend\r\n"]
    server = Server()
    assert server.send_in_pieces([STREAM[:cut], STREAM[cut:]]) == expected_out
    assert server.messages == expected_messages


def test_content_split_at_every_pair_of_bytes():
    expected_out, expected_messages = whole_stream_result()
    start = len(SETUP) - 2
    for i, j in itertools.combinations(range(start, len(STREAM)), 2):
        server = Server()
        assert server.send_in_pieces([STREAM[:i], STREAM[i:j], STREAM[j:]]) == expected_out, (i, j)
        assert server.messages == expected_messages


def test_content_one_byte_at_a_time():
    expected_out, expected_messages = whole_stream_result()
    server = Server()
    assert server.send_in_pieces([STREAM[i:i + 1] for i in range(len(STREAM))]) == expected_out
    assert server.messages == expected_messages


@FUZZ
@given(st.lists(st.integers(0, len(STREAM) * 3), max_size=12))
def test_content_split_anywhere(cuts):
    stream = STREAM + STREAM[STREAM.index(b"MAIL"):] * 2
    cuts = sorted({c % (len(stream) + 1) for c in cuts})
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    server = Server()
    out = server.send_in_pieces(pieces)
    assert summary(out) == ["250 2.1.0", "250 2.1.5", "354", "250 2.0.0", "250 2.0.0"] * 3
    assert [m.content for m in server.messages] == [b".a\r\n\r\n.\r\nb\r\nend\r\n"] * 3


# --- text line limit (§4.5.3.1.6) --------------------------------------------------------------------------

@pytest.mark.parametrize(
    "line, accepted",
    [
        (b"x" * 998, True),
        (b"x" * 999, False),
        (b"x" * 5000, False),
        (b".." + b"x" * 997, True),  # 1001 on the wire, 1000 with CRLF after un-stuffing: the dot doesn't count
        (b".." + b"x" * 998, False),
    ],
    ids=["998+CRLF", "999+CRLF", "5000", "stuffed 1001 on the wire", "stuffed 1002"],
)
@pytest.mark.parametrize("where", ["alone", "first", "middle", "last"])
def test_text_line_limit(line, accepted, where):
    wire = {"alone": line + b"\r\n", "first": line + b"\r\nb\r\n", "middle": b"a\r\n" + line + b"\r\nb\r\n",
            "last": b"a\r\n" + line + b"\r\n"}[where]
    policy = Counting()
    server = in_data(policy=policy)
    out = server.send(wire + b".\r\n")
    [message] = server.messages
    if accepted:
        assert summary(out) == ["250 2.0.0"] and message.accepted and policy.messages == [message.content]
    else:
        assert out == b"500 5.5.2 Error: message text line longer than 1000 octets\r\n"
        assert not message.accepted and policy.messages == []
    assert summary(server.send(MAIL)) == ["250 2.1.0"]  # the session goes on


# --- message size (RFC 1870) -------------------------------------------------------------------------------

@pytest.mark.parametrize("size, accepted", [(99, True), (100, True), (101, False)])
def test_message_size_limit(size, accepted):
    policy = Counting()
    server = in_data(ServerConfig(max_message_size=100), policy)
    content = b"x" * (size - 2) + b"\r\n"
    out = server.send(content + b".\r\n")
    [message] = server.messages
    assert message.accepted is accepted
    if accepted:
        assert summary(out) == ["250 2.0.0"] and message.content == content
    else:
        assert out == b"552 5.3.4 Error: message size exceeds fixed limit\r\n" and policy.messages == []


def test_size_counts_octets_after_unstuffing():
    """RFC 1870 §5: the size does not count doubled quoting dots."""
    server = in_data(ServerConfig(max_message_size=100))
    assert summary(server.send(b"." + b"." * 98 + b"\r\n.\r\n")) == ["250 2.0.0"]


def test_declared_size_over_the_limit_is_refused_at_mail():
    server = Server(ServerConfig(max_message_size=100))
    assert b"SIZE 100" in server.hello_reply
    assert summary(server.send(b"MAIL FROM:<a@b.example> SIZE=101\r\nMAIL FROM:<a@b.example> SIZE=100\r\n")) == [
        "552 5.3.4", "250 2.1.0"]


def test_no_size_limit():
    server = in_data(ServerConfig(max_message_size=0))
    assert summary(server.send(b"x" * 998 + b"\r\n" * 2000 + b".\r\n")) == ["250 2.0.0"]


def test_huge_message_is_refused_with_bounded_memory_and_the_end_still_found():
    server = in_data(ServerConfig(max_message_size=1000))
    line = b"y" * 97 + b"\r\n"  # 99 octets: the terminator straddles chunk boundaries below
    body = line * 10_000 + b".\r\n"
    chunks = [body[i:i + 4096] for i in range(0, len(body), 4096)]
    out = b""
    for chunk in chunks:
        out += server.send(chunk)
        content = server.conn._content
        assert content is None or len(content._buffer) <= 1000 + 2 * 1000 + 4096  # white-box: bounded
    assert summary(out) == ["552 5.3.4"]
    [message] = server.messages
    assert not message.accepted
    assert summary(server.send(b"NOOP\r\n")) == ["250 2.0.0"]


# --- losing the connection ---------------------------------------------------------------------------------

@pytest.mark.parametrize("sent", [b"", b"partial", b"line\r\n", b"line\r\n.", b"line\r\n.\r", b"line\r\n..\r\n"])
@pytest.mark.parametrize("how", ["connection_lost", "eof"])
def test_connection_lost_mid_data_delivers_nothing(sent, how):
    policy = Counting()
    server = in_data(policy=policy)
    server.send(sent)
    if how == "eof":
        server.conn.receive_data(b"")
    else:
        server.conn.connection_lost()
    assert server.pump() == b""
    assert server.events == [Closed(None)]
    assert server.messages == [] and policy.messages == []
    assert server.conn.closed


def test_complete_message_then_eof_is_delivered():
    """The server committed when it sent 250; that the client may not see it is RFC 1047's window."""
    server = in_data()
    server.conn.receive_data(b"hi\r\n.\r\n")
    server.conn.receive_data(b"")
    assert summary(server.pump()) == ["250 2.0.0"]
    assert [type(e) for e in server.events] == [MessageReceived, Closed]
    assert server.accepted_messages[0].content == b"hi\r\n"
