"""Client and server engines joined in memory: whole sessions, byte-exact content, round-trip counts."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maillab.smtp import (
    ClientConfig,
    ConnectionPair,
    DefaultPolicy,
    Reply,
    ServerConfig,
    Stage,
    Status,
    Transaction,
)
from maillab.smtp import replies as R

from .helpers import FUZZ

PIPELINED = ClientConfig("client.example")
LOCKSTEP = ClientConfig("client.example", pipelining="off")
MODES = pytest.mark.parametrize("config", [PIPELINED, LOCKSTEP], ids=["pipelining", "no pipelining"])


def recipients(n: int) -> tuple[str, ...]:
    return tuple(f"user{i}@example.net" for i in range(n))


def run(transactions, config=PIPELINED, policy=None, server_config=None) -> ConnectionPair:
    pair = ConnectionPair.build(transactions, config, policy, server_config).run()
    assert pair.client.done and pair.server.closed
    assert len(pair.results) == len(transactions)
    return pair


@MODES
def test_one_message(config):
    t = Transaction("alice@example.org", ("bob@example.net",), b"Subject: hi\r\n\r\nhello\r\n")
    pair = run([t], config)
    [message] = pair.messages
    assert (message.sender, message.recipients, message.content) == (t.sender, t.recipients, t.content)
    assert pair.results[0].recipients[0].status is Status.ACCEPTED
    assert pair.results[0].recipients[0].stage is Stage.CONTENT


@MODES
def test_150_recipients(config):
    t = Transaction("alice@example.org", recipients(150), b"hello\r\n")
    pair = run([t], config)
    assert pair.messages[0].recipients == recipients(150)
    assert [r.status for r in pair.results[0].recipients] == [Status.ACCEPTED] * 150


@MODES
def test_more_recipients_than_the_server_takes(config):
    t = Transaction("alice@example.org", recipients(150), b"hello\r\n")
    pair = run([t], config, server_config=ServerConfig(max_recipients=100, hard_error_limit=1000))
    assert pair.messages[0].recipients == recipients(100)
    results = pair.results[0].recipients
    assert [r.status for r in results] == [Status.ACCEPTED] * 100 + [Status.TEMPORARY] * 50
    assert {(r.reply.code, r.reply.enhanced) for r in results[100:]} == {(452, "4.5.3")}


STUFFED = (b".leading dot\r\n..two dots\r\n.\r\n..\r\n...\r\nmid . dot\r\n\r\n.\r\n"
           b"\r\n.\r\n\r\nQUIT\r\nMAIL FROM:<x@y.example>\r\n. \r\n.end")


@MODES
def test_dot_stuffed_content_round_trips_byte_exact(config):
    content = STUFFED + b"\r\n"
    pair = run([Transaction("a@example.org", ("b@example.net",), content)], config)
    assert pair.messages[0].content == content
    assert pair.results[0].recipients[0].status is Status.ACCEPTED


@MODES
def test_content_is_normalised_to_crlf_on_the_way(config):
    pair = run([Transaction("a@example.org", ("b@example.net",), b"a\n.\nb")], config)
    assert pair.messages[0].content == b"a\r\n.\r\nb\r\n"


class Picky(DefaultPolicy):
    def sender(self, session, envelope, address, size):
        return Reply(553, "5.7.1", "sender refused") if address.startswith("spam") else R.SENDER_OK

    def recipient(self, session, envelope, address):
        if address.startswith("nobody"):
            return R.NO_SUCH_USER
        if address.startswith("grey"):
            return R.GREYLISTED
        return R.RECIPIENT_OK

    def message(self, session, envelope):
        return R.MAILBOX_FULL if b"big" in envelope.content else R.QUEUED


@MODES
def test_rejections_through_a_policy(config):
    ts = [
        Transaction("alice@example.org", ("nobody@example.net", "bob@example.net", "grey@example.net"), b"one\r\n"),
        Transaction("spam@example.org", ("bob@example.net",), b"two\r\n"),
        Transaction("alice@example.org", ("nobody@example.net", "grey@example.net"), b"three\r\n"),
        Transaction("alice@example.org", ("bob@example.net",), b"big\r\n"),
        Transaction("alice@example.org", ("carol@example.net",), b"five\r\n"),
    ]
    pair = run(ts, config, policy=Picky())
    outcome = [[(r.status, r.stage, r.reply.code) for r in res.recipients] for res in pair.results]
    assert outcome == [
        [(Status.PERMANENT, Stage.RCPT, 550), (Status.ACCEPTED, Stage.CONTENT, 250),
         (Status.TEMPORARY, Stage.RCPT, 450)],
        [(Status.PERMANENT, Stage.MAIL, 553)],
        [(Status.PERMANENT, Stage.RCPT, 550), (Status.TEMPORARY, Stage.RCPT, 450)],
        [(Status.TEMPORARY, Stage.CONTENT, 452)],
        [(Status.ACCEPTED, Stage.CONTENT, 250)],
    ]
    assert [(m.recipients, m.content) for m in pair.messages] == [
        (("bob@example.net",), b"one\r\n"), (("carol@example.net",), b"five\r\n")]
    refused = [m for m in pair.server_events if getattr(m, "accepted", True) is False]
    assert [m.content for m in refused] == [b"big\r\n"]


@MODES
def test_several_transactions(config):
    ts = [Transaction(f"s{i}@example.org", recipients(i + 1), f"message {i}\r\n".encode(), tag=f"q{i}")
          for i in range(5)]
    pair = run(ts, config)
    assert [(m.sender, m.recipients, m.content) for m in pair.messages] == [
        (t.sender, t.recipients, t.content) for t in ts]
    assert [r.transaction.tag for r in pair.results] == ["q0", "q1", "q2", "q3", "q4"]
    assert pair.server.session.transactions == 5


def test_message_over_the_servers_size_never_leaves_the_client():
    ts = [Transaction("a@example.org", ("b@example.net",), b"x" * 200 + b"\r\n"),
          Transaction("a@example.org", ("c@example.net",), b"small\r\n")]
    pair = run(ts, server_config=ServerConfig(max_message_size=100))
    assert pair.results[0].recipients[0].reply.code == 552
    assert pair.results[0].recipients[0].status is Status.PERMANENT
    assert [m.recipients for m in pair.messages] == [("c@example.net",)]
    assert sum(line.startswith(b"MAIL") for side, line in pair.transcript if side == "C") == 1


class Closed421(DefaultPolicy):
    def greeting(self, session):
        return R.not_available("mx.example")


class NoService(DefaultPolicy):
    def greeting(self, session):
        return R.no_service("mx.example")


def test_421_greeting():
    pair = run([Transaction("a@example.org", ("b@example.net",), b"x\r\n")], policy=Closed421())
    assert pair.round_trips == 1 and pair.messages == []
    assert pair.results[0].recipients[0].status is Status.TEMPORARY


def test_554_greeting():
    pair = run([Transaction("a@example.org", ("b@example.net",), b"x\r\n")], policy=NoService())
    assert pair.round_trips == 2  # greeting, QUIT
    assert pair.results[0].recipients[0].status is Status.PERMANENT
    assert [line for side, line in pair.transcript if side == "C"] == [b"QUIT"]


def test_server_without_enhanced_codes():
    pair = run([Transaction("a@example.org", ("nobody@example.net", "b@example.net"), b"x\r\n")],
               policy=Picky(), server_config=ServerConfig(enhanced_status_codes=False))
    first = pair.results[0].recipients[0].reply
    assert (first.code, first.enhanced) == (550, None)
    assert len(pair.messages) == 1


def test_server_without_pipelining_makes_the_client_wait():
    pair = run([Transaction("a@example.org", recipients(3), b"x\r\n")], server_config=ServerConfig(pipelining=False))
    assert pair.round_trips == 6 + 3


def test_dialogue_reads_like_telnet():
    pair = run([Transaction("a@example.org", ("b@example.net",), b"..x\r\n")], LOCKSTEP,
               server_config=ServerConfig(hostname="mx.example"))
    assert pair.dialogue().splitlines() == [
        "S: 220 mx.example ESMTP maillab",
        "C: EHLO client.example",
        "S: 250-mx.example greets client.example",
        "S: 250-PIPELINING",
        "S: 250-SIZE 10240000",
        "S: 250-8BITMIME",
        "S: 250 ENHANCEDSTATUSCODES",
        "C: MAIL FROM:<a@example.org> SIZE=5",
        "S: 250 2.1.0 Ok",
        "C: RCPT TO:<b@example.net>",
        "S: 250 2.1.5 Ok",
        "C: DATA",
        "S: 354 End data with <CR><LF>.<CR><LF>",
        "C: ...x",
        "C: .",
        "S: 250 2.0.0 Ok: queued",
        "C: QUIT",
        "S: 221 2.0.0 mx.example closing connection",
    ]


def test_record_false_keeps_no_transcript():
    pair = ConnectionPair.build([Transaction("a@example.org", ("b@example.net",), b"x\r\n")], record=False).run()
    assert pair.transcript == [] and len(pair.messages) == 1


# --- round trips: REFERENCE §7 case 1 ----------------------------------------------------------------------
# REFERENCE counts 2r to the greeting (TCP handshake + greeting), then 1r per EHLO, MAIL, RCPT×n, DATA, dot,
# QUIT: 7 + n r without PIPELINING and 6r with it. The pair has no TCP handshake, so in server->client
# flights (what ConnectionPair.round_trips counts) that is one fewer: 6 + n and 5.

@pytest.mark.parametrize("n", [1, 2, 3, 10, 150])
def test_round_trips_without_pipelining(n):
    pair = run([Transaction("a@example.org", recipients(n), b"x\r\n")], LOCKSTEP)
    assert pair.round_trips == 6 + n
    assert pair.round_trips + 1 == 7 + n  # + the handshake = REFERENCE §7 case 1 (8r for n = 1)


@pytest.mark.parametrize("n", [1, 2, 3, 10, 150])
def test_round_trips_with_pipelining(n):
    pair = run([Transaction("a@example.org", recipients(n), b"x\r\n")], PIPELINED)
    assert pair.round_trips == 5
    assert pair.round_trips + 1 == 6  # + the handshake = REFERENCE §7 case 1's 6r, whatever n


@pytest.mark.parametrize("k", [1, 2, 5])
def test_round_trips_of_several_messages(k):
    ts = [Transaction("a@example.org", ("b@example.net", "c@example.net"), b"x\r\n") for _ in range(k)]
    assert run(ts, PIPELINED).round_trips == 3 + 2 * k  # greeting, EHLO, k × ([MAIL RCPT DATA], dot), QUIT
    assert run(ts, LOCKSTEP).round_trips == 3 + k * (2 + 2 + 1)  # k × (MAIL, 2 RCPT, DATA, dot)


def test_each_server_flight_answers_one_client_flight():
    pair = run([Transaction("a@example.org", recipients(3), b"x\r\n")], PIPELINED)
    flights = [side for side, _ in pair.transcript]
    changes = [a for a, b in zip(flights, flights[1:] + ["end"], strict=True) if a != b]
    assert changes == ["S", "C"] * 4 + ["S"]  # 5 server flights, alternating


# --- arbitrary sessions ------------------------------------------------------------------------------------

LINE = st.binary(max_size=120).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
ADDRESS = st.from_regex(r"\A[a-z0-9]{1,10}@[a-z]{1,10}\.example\Z")


def normalised(content: bytes) -> bytes:
    content = re.sub(rb"\r?\n", b"\r\n", content)
    return content if not content or content.endswith(b"\r\n") else content + b"\r\n"


@FUZZ
@given(
    messages=st.lists(
        st.tuples(
            st.one_of(st.just(""), ADDRESS),
            st.lists(ADDRESS, min_size=1, max_size=5, unique=True),
            st.lists(LINE, max_size=8),
            st.sampled_from([b"\r\n", b"\n"]),
            st.booleans(),
        ),
        min_size=1, max_size=3,
    ),
    pipelining=st.booleans(),
)
def test_any_content_round_trips(messages, pipelining):
    ts = [Transaction(sender, tuple(rcpts), end.join(lines) + (end if final else b""))
          for sender, rcpts, lines, end, final in messages]
    pair = run(ts, PIPELINED if pipelining else LOCKSTEP)
    assert [(m.sender, m.recipients, m.content) for m in pair.messages] == [
        (t.sender, t.recipients, normalised(t.content)) for t in ts]
    assert all(r.status is Status.ACCEPTED for res in pair.results for r in res.recipients)
    if pipelining:
        assert pair.round_trips == 3 + 2 * len(ts)
