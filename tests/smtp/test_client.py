"""The client role, byte level: server replies go in as bytes, the client's commands come out as bytes.

RFC 5321 §3-§4 and §4.5.3.2, RFC 2920 (PIPELINING), RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 1047.
"""

import pytest

from maillab.errors import LocalProtocolError
from maillab.smtp import (
    NEED_DATA,
    ClientConfig,
    ClientConnection,
    ClientTimeouts,
    Ehlo,
    Helo,
    RecipientResult,
    Reply,
    ServerReplied,
    SessionDone,
    Stage,
    Status,
    Transaction,
    TransactionDone,
)
from maillab.smtp import replies as R

from .helpers import (
    EHLO_BARE,
    EHLO_PIPELINING,
    EHLO_PLAIN,
    GO_AHEAD,
    GREETING,
    OK,
    Client,
    mail_line,
    rcpt_line,
    started_client,
    transaction,
)

T = transaction()  # alice -> bob, 22 octets
SIZE = f" SIZE={len(T.content)}".encode()
MAIL_T = mail_line(T, SIZE)
CONTENT_T = b"Subject: hi\r\n\r\nhello\r\n.\r\n"
QUIT = b"QUIT\r\n"
RCPT_OK = b"250 2.1.5 Ok\r\n"
NO_USER = b"550 5.1.1 no such user\r\n"
BUSY = b"450 4.2.0 greylisted\r\n"
QUEUED = b"250 2.0.0 Ok: queued\r\n"
BYE = b"421 4.3.2 closing\r\n"


def statuses(result):
    return [(r.recipient, r.status, r.stage, r.reply.code) for r in result.recipients]


# --- greeting and hello ------------------------------------------------------------------------------------

def test_client_waits_for_the_greeting_then_says_ehlo():
    client = Client([T])
    assert client.pump() == b""
    assert client.conn.timeout == 300
    assert client.feed(b"220 mx.exam") == b""
    assert client.feed(b"ple ESMTP\r\n") == b"EHLO client.example\r\n"
    assert client.events == [ServerReplied(Stage.GREETING, None, Reply(220, None, "mx.example ESMTP"))]


def test_multi_line_greeting():
    client = Client([T])
    assert client.feed(b"220-mx.example ESMTP\r\n220-no UCE\r\n") == b""
    assert client.feed(b"220 welcome\r\n") == b"EHLO client.example\r\n"


@pytest.mark.parametrize("refusal", [b"500 5.5.1 what?\r\n", b"502 5.5.1 no EHLO\r\n", b"501 syntax\r\n",
                                     b"550 not here\r\n"])
def test_ehlo_refused_falls_back_to_helo(refusal):
    """§3.2 / §4.1.4: a server that does not know EHLO answers 5xx; the client then says HELO."""
    client = Client([T])
    client.feed(GREETING)
    assert client.feed(refusal) == b"HELO client.example\r\n"
    assert client.feed(b"250 mx.example\r\n") == mail_line(T)  # no parameters in a HELO session
    assert client.feed(OK) == rcpt_line("bob@example.net")
    assert client.feed(RCPT_OK) == b"DATA\r\n"
    assert client.feed(GO_AHEAD) == CONTENT_T
    assert client.feed(QUEUED) == QUIT
    assert [(e.stage, e.command) for e in client.events if isinstance(e, ServerReplied)][1:3] == [
        (Stage.HELLO, Ehlo("client.example")), (Stage.HELLO, Helo("client.example"))]
    assert statuses(client.results[0]) == [("bob@example.net", Status.ACCEPTED, Stage.CONTENT, 250)]


def test_helo_refused_too_fails_everything_permanently():
    client = Client([T, transaction("carol@example.net")])
    client.feed(GREETING)
    assert client.feed(b"502 no\r\n") == b"HELO client.example\r\n"
    assert client.feed(b"550 go away\r\n") == QUIT
    assert [statuses(r) for r in client.results] == [
        [("bob@example.net", Status.PERMANENT, Stage.HELLO, 550)],
        [("carol@example.net", Status.PERMANENT, Stage.HELLO, 550)]]
    assert client.feed(b"221 bye\r\n") == b""
    assert client.session_done == [SessionDone(Reply(221, None, "bye"))] and client.conn.done


def test_ehlo_temporary_refusal_is_not_a_reason_for_helo():
    client = Client([T])
    client.feed(GREETING)
    assert client.feed(b"451 4.3.0 try later\r\n") == QUIT
    assert statuses(client.results[0]) == [("bob@example.net", Status.TEMPORARY, Stage.HELLO, 451)]


@pytest.mark.parametrize("greeting, status", [(b"554 5.3.2 no service\r\n", Status.PERMANENT),
                                              (b"554 no service\r\n", Status.PERMANENT),
                                              (b"450 busy\r\n", Status.TEMPORARY)])
def test_refusing_greeting_fails_all_and_quits(greeting, status):
    """§3.1: after a 554 greeting the client SHOULD send QUIT."""
    client = Client([T, transaction("carol@example.net")])
    assert client.feed(greeting) == QUIT
    assert [r.recipients[0].status for r in client.results] == [status, status]
    assert all(r.recipients[0].stage is Stage.GREETING for r in client.results)
    client.feed(b"221 bye\r\n")
    assert client.conn.done


def test_ehlo_keywords_are_read_case_insensitively():
    client, sent = started_client([T], b"250-mx.example\r\n250-pipelining\r\n250 size 1000\r\n")
    assert sent == MAIL_T + rcpt_line("bob@example.net") + b"DATA\r\n"
    assert client.conn.pipelining and client.conn.server_size_limit == 1000


# --- pipelining (RFC 2920) ---------------------------------------------------------------------------------

def test_pipelining_sends_mail_rcpts_and_data_in_one_flight():
    t = transaction("b1@example.net", "b2@example.net", "b3@example.net")
    client, sent = started_client([t], EHLO_PIPELINING)
    assert sent == (mail_line(t, SIZE) + rcpt_line("b1@example.net") + rcpt_line("b2@example.net")
                    + rcpt_line("b3@example.net") + b"DATA\r\n")
    assert client.feed(OK + RCPT_OK + RCPT_OK) == b""
    assert client.feed(RCPT_OK + GO_AHEAD) == CONTENT_T
    assert client.feed(QUEUED) == QUIT
    assert [r.status for r in client.results[0].recipients] == [Status.ACCEPTED] * 3


def test_pipelining_replies_may_arrive_in_any_chunks():
    t = transaction("b1@example.net", "b2@example.net")
    replies = OK + RCPT_OK + RCPT_OK + GO_AHEAD
    for cut in range(len(replies) + 1):
        client, _ = started_client([t], EHLO_PIPELINING)
        sent = (client.feed(replies[:cut]) if cut else b"") + (client.feed(replies[cut:]) if replies[cut:] else b"")
        assert sent == CONTENT_T, cut


@pytest.mark.parametrize("ehlo, config", [(EHLO_PLAIN, None), (EHLO_PIPELINING, ClientConfig("client.example",
                                                                                               pipelining="off"))],
                         ids=["not advertised", "pipelining=off"])
def test_without_pipelining_one_command_at_a_time(ehlo, config):
    t = transaction("b1@example.net", "b2@example.net")
    client, sent = started_client([t], ehlo, config)
    assert not client.conn.pipelining
    assert sent == mail_line(t, SIZE)
    assert client.feed(OK) == rcpt_line("b1@example.net")
    assert client.feed(RCPT_OK) == rcpt_line("b2@example.net")
    assert client.feed(RCPT_OK) == b"DATA\r\n"
    assert client.feed(GO_AHEAD) == CONTENT_T
    assert client.feed(QUEUED) == QUIT


def test_bad_pipelining_option():
    with pytest.raises(LocalProtocolError):
        ClientConfig(pipelining="sometimes")


def test_transaction_needs_a_recipient():
    with pytest.raises(LocalProtocolError):
        Transaction("a@b.example", (), b"")


# --- SIZE and BODY (RFC 1870, RFC 6152) --------------------------------------------------------------------

def test_size_parameter_only_when_advertised():
    assert started_client([T], EHLO_PLAIN)[1] == MAIL_T
    assert started_client([T], EHLO_BARE)[1] == mail_line(T)
    assert started_client([T], b"250-mx.example\r\n250 8BITMIME\r\n")[1] == mail_line(T)


@pytest.mark.parametrize("length, refused", [(999, False), (1000, False), (1001, True)])
def test_message_over_the_advertised_size_is_refused_locally(length, refused):
    t = transaction(content=b"x" * (length - 2) + b"\r\n")
    client, sent = started_client([t, T], EHLO_PLAIN)  # SIZE 1000
    if refused:
        assert sent == MAIL_T  # the big one never reaches the wire: straight to the next transaction
        [result] = client.results
        [rcpt] = result.recipients
        assert (rcpt.status, rcpt.stage, rcpt.reply.code, rcpt.reply.enhanced) == (
            Status.PERMANENT, Stage.MAIL, 552, "5.3.4")
    else:
        assert sent == mail_line(t, f" SIZE={length}".encode())
        assert client.results == []


def test_only_oversized_message_then_quit():
    client, sent = started_client([transaction(content=b"x" * 2000)], EHLO_PLAIN)
    assert sent == QUIT
    assert client.results[0].recipients[0].reply.code == 552


@pytest.mark.parametrize("size", [b"0", b""], ids=["SIZE 0", "SIZE"])
def test_size_without_limit(size):
    ehlo = b"250-mx.example\r\n250 SIZE " + size + b"\r\n" if size else b"250-mx.example\r\n250 SIZE\r\n"
    t = transaction(content=b"x" * 5000 + b"\r\n")
    client, sent = started_client([t], ehlo)
    assert sent == mail_line(t, b" SIZE=5002")
    assert client.conn.server_size_limit is None


def test_declared_size_counts_the_octets_sent():
    t = transaction(content=b"a\nb")
    client, sent = started_client([t], EHLO_PLAIN)
    assert sent == mail_line(t, b" SIZE=6")


def test_unicode_digit_in_size_does_not_crash():
    client = Client([T])
    client.feed(GREETING)
    sent = client.feed(b"250-mx.example\r\n250 SIZE \xc2\xb2\r\n")
    assert sent in (mail_line(T), mail_line(T, b" SIZE=22"), QUIT)


def test_body_8bitmime_for_8bit_content_when_advertised():
    t = transaction(content="Subject: café\r\n\r\nhé\r\n".encode())
    n = len(t.content)
    assert started_client([t], EHLO_PLAIN)[1] == mail_line(t, f" SIZE={n} BODY=8BITMIME".encode())
    assert started_client([t], b"250-mx.example\r\n250 SIZE 1000\r\n")[1] == mail_line(t, f" SIZE={n}".encode())
    assert started_client([T], EHLO_PLAIN)[1] == MAIL_T  # 7-bit content: no BODY


# --- per-recipient outcomes --------------------------------------------------------------------------------

MIXED = transaction("ok@example.net", "busy@example.net", "gone@example.net", "ok2@example.net")


@pytest.mark.parametrize("ehlo", [EHLO_PLAIN, EHLO_PIPELINING], ids=["plain", "pipelining"])
def test_mixed_rcpt_results_only_accepted_ones_get_the_data_outcome(ehlo):
    client, _ = started_client([MIXED], ehlo)
    sent = b"".join(client.feed(r) for r in (OK, RCPT_OK, BUSY, NO_USER, b"251 2.1.5 will forward\r\n", GO_AHEAD))
    assert sent.endswith(CONTENT_T)
    assert client.feed(b"554 5.7.1 content rejected\r\n") == QUIT
    assert statuses(client.results[0]) == [
        ("ok@example.net", Status.PERMANENT, Stage.CONTENT, 554),
        ("busy@example.net", Status.TEMPORARY, Stage.RCPT, 450),
        ("gone@example.net", Status.PERMANENT, Stage.RCPT, 550),
        ("ok2@example.net", Status.PERMANENT, Stage.CONTENT, 554),
    ]


@pytest.mark.parametrize("final, status", [(QUEUED, Status.ACCEPTED), (b"451 4.3.0 disk\r\n", Status.TEMPORARY),
                                           (b"552 5.3.4 too big\r\n", Status.PERMANENT),
                                           (b"259 odd but positive\r\n", Status.ACCEPTED)],
                         ids=["250", "451", "552", "259"])
def test_final_dot_reply_decides_accepted_recipients(final, status):
    client, _ = started_client([MIXED], EHLO_PIPELINING)
    client.feed(OK + RCPT_OK + BUSY + NO_USER + RCPT_OK + GO_AHEAD)
    assert client.feed(final) == QUIT
    result = client.results[0]
    assert [r.status for r in result.recipients] == [status, Status.TEMPORARY, Status.PERMANENT, status]
    assert result.recipients[0] == RecipientResult("ok@example.net", R.ReplyParser().feed_line(final[:-2]),
                                                   Stage.CONTENT)
    assert result.duplicate_window is False


def test_all_recipients_rejected_without_pipelining_sends_no_data_and_rsets_before_the_next():
    t1 = transaction("x@example.net", "y@example.net")
    t2 = transaction("carol@example.net")
    client, _ = started_client([t1, t2], EHLO_PLAIN)
    client.feed(OK)
    assert client.feed(NO_USER) == rcpt_line("y@example.net")
    sent = client.feed(BUSY)
    assert b"DATA" not in sent
    assert sent == b"RSET\r\n"  # alone: without PIPELINING, MAIL waits for RSET's reply (RFC 2920 §3.1)
    assert client.feed(OK) == mail_line(t2, SIZE)
    assert statuses(client.results[0]) == [("x@example.net", Status.PERMANENT, Stage.RCPT, 550),
                                           ("y@example.net", Status.TEMPORARY, Stage.RCPT, 450)]


def test_rset_is_its_own_flight_without_pipelining():
    client, _ = started_client([transaction("x@example.net"), transaction("carol@example.net")], EHLO_PLAIN)
    client.feed(OK)
    assert client.feed(NO_USER) == b"RSET\r\n"
    assert client.feed(OK) == mail_line(T, SIZE)


def test_all_recipients_rejected_single_transaction_just_quits():
    client, _ = started_client([T], EHLO_PLAIN)
    client.feed(OK)
    assert client.feed(NO_USER) == QUIT


def test_all_recipients_rejected_with_pipelining():
    t1 = transaction("x@example.net", "y@example.net")
    t2 = transaction("carol@example.net")
    client, _ = started_client([t1, t2], EHLO_PIPELINING)
    sent = client.feed(OK + NO_USER + NO_USER + b"554 5.5.1 no valid recipients\r\n")
    assert sent == b"RSET\r\n" + mail_line(t2, SIZE) + rcpt_line("carol@example.net") + b"DATA\r\n"
    assert [r.stage for r in client.results[0].recipients] == [Stage.RCPT, Stage.RCPT]


def test_pipelined_data_accepted_though_all_recipients_failed_sends_only_the_dot():
    """RFC 2920 §3.1: if DATA got 354 although no RCPT succeeded, the client sends just the final dot."""
    client, _ = started_client([transaction("x@example.net")], EHLO_PIPELINING)
    assert client.feed(OK + NO_USER + GO_AHEAD) == b".\r\n"
    assert client.feed(b"554 5.5.1 no valid recipients\r\n") == QUIT
    assert statuses(client.results[0]) == [("x@example.net", Status.PERMANENT, Stage.RCPT, 550)]


@pytest.mark.parametrize("refusal, status", [(b"550 5.7.1 sender denied\r\n", Status.PERMANENT),
                                             (b"451 4.3.0 later\r\n", Status.TEMPORARY)])
def test_mail_rejected(refusal, status):
    t = transaction("b1@example.net", "b2@example.net")
    client, _ = started_client([t, T], EHLO_PLAIN)
    assert client.feed(refusal) == MAIL_T  # no RCPT, no RSET needed: MAIL failed, no transaction opened
    assert [(r.status, r.stage) for r in client.results[0].recipients] == [(status, Stage.MAIL)] * 2


def test_mail_rejected_with_pipelining_ignores_the_following_503s():
    t = transaction("b1@example.net", "b2@example.net")
    client, _ = started_client([t], EHLO_PIPELINING)
    assert client.feed(b"550 5.7.1 no\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n") == b""
    assert client.feed(b"503 5.5.1 need MAIL\r\n") == QUIT
    assert [(r.reply.code, r.stage) for r in client.results[0].recipients] == [(550, Stage.MAIL)] * 2


@pytest.mark.parametrize("refusal, status", [(b"554 5.5.1 no\r\n", Status.PERMANENT),
                                             (b"451 4.3.0 later\r\n", Status.TEMPORARY)])
def test_data_rejected(refusal, status):
    client, _ = started_client([MIXED, T], EHLO_PLAIN)
    for reply in (OK, RCPT_OK, BUSY, NO_USER, RCPT_OK):
        client.feed(reply)
    assert client.feed(refusal) == b"RSET\r\n"
    assert client.feed(OK) == MAIL_T
    assert [(r.status, r.stage) for r in client.results[0].recipients] == [
        (status, Stage.DATA), (Status.TEMPORARY, Stage.RCPT), (Status.PERMANENT, Stage.RCPT), (status, Stage.DATA)]


# --- unknown codes: act on the first digit (§4.2) ----------------------------------------------------------

@pytest.mark.parametrize("reply, status", [(b"251 will forward\r\n", Status.ACCEPTED),
                                           (b"299 whatever\r\n", Status.ACCEPTED),
                                           (b"471 odd\r\n", Status.TEMPORARY),
                                           (b"599 odd\r\n", Status.PERMANENT)])
def test_unknown_rcpt_code_by_first_digit(reply, status):
    client, _ = started_client([T], EHLO_PLAIN)
    client.feed(b"299 sender fine\r\n")
    sent = client.feed(reply)
    assert sent == (b"DATA\r\n" if status is Status.ACCEPTED else QUIT)
    if status is not Status.ACCEPTED:
        assert client.results[0].recipients[0].status is status


def test_any_3xx_to_data_starts_the_content():
    client, _ = started_client([T], EHLO_PIPELINING)
    assert client.feed(OK + RCPT_OK + b"355 go ahead\r\n") == CONTENT_T


def test_2xx_to_data_is_not_a_delivery():
    client, _ = started_client([T], EHLO_PIPELINING)
    client.feed(OK + RCPT_OK + b"250 2.0.0 ok\r\n")
    client.lose()
    assert client.results[0].recipients[0].status is not Status.ACCEPTED


# --- 421 at any point (§3.8) -------------------------------------------------------------------------------

def two_transactions():
    return [transaction("b1@example.net", "b2@example.net"), transaction("carol@example.net")]


BEFORE_421 = {
    "greeting": [],
    "ehlo": [GREETING],
    "mail": [GREETING, EHLO_PLAIN],
    "rcpt": [GREETING, EHLO_PLAIN, OK],
    "second rcpt": [GREETING, EHLO_PLAIN, OK, RCPT_OK],
    "data": [GREETING, EHLO_PLAIN, OK, RCPT_OK, RCPT_OK],
    "dot": [GREETING, EHLO_PLAIN, OK, RCPT_OK, RCPT_OK, GO_AHEAD],
    "pipelined group": [GREETING, EHLO_PIPELINING, OK],
    "pipelined dot": [GREETING, EHLO_PIPELINING, OK + RCPT_OK + RCPT_OK + GO_AHEAD],
}


@pytest.mark.parametrize("where", list(BEFORE_421))
def test_421_fails_open_and_later_transactions_temporarily(where):
    client = Client(two_transactions())
    for reply in BEFORE_421[where]:
        client.feed(reply)
    assert client.feed(BYE) == b""  # no QUIT after 421: the server is closing
    assert client.conn.done and client.session_done == [SessionDone(Reply(421, "4.3.2", "closing"))]
    assert len(client.results) == 2
    for result in client.results:
        assert all(r.status is Status.TEMPORARY and r.reply.code == 421 for r in result.recipients)
        assert result.duplicate_window is False  # an explicit 421 to the dot is a refusal, not silence
    assert client.conn.timeout is None
    assert client.feed(OK) == b"" and client.lose() == b""


STAGE_OF_421 = {"greeting": Stage.GREETING, "mail": Stage.MAIL, "rcpt": Stage.RCPT, "data": Stage.DATA,
                "dot": Stage.CONTENT}


@pytest.mark.parametrize("where", list(STAGE_OF_421))
def test_421_is_recorded_at_the_stage_it_answered(where):
    client = Client(two_transactions())
    for reply in BEFORE_421[where]:
        client.feed(reply)
    client.feed(BYE)
    assert client.results[0].recipients[0].stage is STAGE_OF_421[where]


# --- losing the connection (§3.8) and RFC 1047 -------------------------------------------------------------

LOSS_POINTS = {
    "greeting": ([], Stage.GREETING, False),
    "ehlo": ([GREETING], Stage.HELLO, False),  # no transaction could start: each fails where the session did
    "mail": ([GREETING, EHLO_PLAIN], Stage.MAIL, False),
    "rcpt": ([GREETING, EHLO_PLAIN, OK], Stage.RCPT, False),
    "data": ([GREETING, EHLO_PLAIN, OK, RCPT_OK, RCPT_OK], Stage.DATA, False),
    "after the dot": ([GREETING, EHLO_PLAIN, OK, RCPT_OK, RCPT_OK, GO_AHEAD], Stage.CONTENT, True),
    "pipelined group": ([GREETING, EHLO_PIPELINING], Stage.MAIL, False),
    "pipelined, after MAIL reply": ([GREETING, EHLO_PIPELINING, OK], Stage.RCPT, False),
    "pipelined after the dot": ([GREETING, EHLO_PIPELINING, OK + RCPT_OK + RCPT_OK + GO_AHEAD], Stage.CONTENT,
                                True),
    "half a reply after the dot": ([GREETING, EHLO_PLAIN, OK, RCPT_OK, RCPT_OK, GO_AHEAD, b"250 2.0"],
                                   Stage.CONTENT, True),
}


@pytest.mark.parametrize("how", ["connection_lost", "eof"])
@pytest.mark.parametrize("where", list(LOSS_POINTS))
def test_connection_lost_is_451_and_duplicate_window_only_after_the_dot(where, how):
    replies, stage, duplicate = LOSS_POINTS[where]
    client = Client(two_transactions())
    for reply in replies:
        client.feed(reply)
    assert client.conn.in_duplicate_window is duplicate
    if how == "eof":
        assert client.feed(b"") == b""
    else:
        assert client.lose() == b""
    first, second = client.results
    assert first.duplicate_window is duplicate and second.duplicate_window is False
    expected = R.NOT_ATTEMPTED if stage is Stage.SESSION else R.CONNECTION_LOST
    for r in first.recipients:
        assert (r.status, r.stage, r.reply) == (Status.TEMPORARY, stage, expected)
        assert (r.reply.code, r.reply.enhanced) == (451, "4.4.2")
    assert second.recipients[0].status is Status.TEMPORARY
    assert second.recipients[0].reply.enhanced == "4.4.2"
    assert client.session_done == [SessionDone(R.CONNECTION_LOST)] and client.conn.done
    assert isinstance(client.events[-1], SessionDone)


def test_connection_lost_keeps_decided_recipients():
    client, _ = started_client([MIXED], EHLO_PLAIN)
    for reply in (OK, RCPT_OK, BUSY, NO_USER):
        client.feed(reply)
    client.lose()
    assert [(r.status, r.reply.code) for r in client.results[0].recipients] == [
        (Status.TEMPORARY, 451), (Status.TEMPORARY, 450), (Status.PERMANENT, 550), (Status.TEMPORARY, 451)]


def test_connection_lost_after_a_finished_transaction_keeps_its_result():
    client, _ = started_client([T, transaction("carol@example.net")], EHLO_PIPELINING)
    client.feed(OK + RCPT_OK + GO_AHEAD)
    client.feed(QUEUED)
    client.lose()
    first, second = client.results
    assert first.recipients[0].status is Status.ACCEPTED and not first.duplicate_window
    assert second.recipients[0].reply == R.CONNECTION_LOST and not second.duplicate_window


def test_connection_lost_while_waiting_for_quit_reply():
    client, _ = started_client([T], EHLO_PIPELINING)
    client.feed(OK + RCPT_OK + GO_AHEAD)
    assert client.feed(QUEUED) == QUIT
    client.lose()
    assert client.results[0].recipients[0].status is Status.ACCEPTED
    assert client.session_done == [SessionDone(R.CONNECTION_LOST)]


def test_transactions_never_reached_are_not_attempted():
    client = Client(two_transactions())
    client.feed(GREETING)
    client.feed(EHLO_PLAIN)
    client.lose()
    assert client.results[1].recipients[0] == RecipientResult("carol@example.net", R.NOT_ATTEMPTED, Stage.SESSION)


@pytest.mark.parametrize("where", ["rcpt", "after the dot", "greeting"])
def test_timed_out(where):
    replies, stage, duplicate = LOSS_POINTS[where]
    client = Client(two_transactions()[:1])
    for reply in replies:
        client.feed(reply)
    client.conn.timed_out()
    client.pump()
    [result] = client.results
    assert result.recipients[0].reply == R.CONVERSATION_TIMEOUT and result.recipients[0].stage is stage
    assert result.duplicate_window is duplicate
    assert client.session_done == [SessionDone(R.CONVERSATION_TIMEOUT)]
    assert client.conn.timeout is None


# --- timeouts (§4.5.3.2) -----------------------------------------------------------------------------------

TIMEOUTS = [
    ("greeting", [], 300),
    ("EHLO", [GREETING], 300),
    ("MAIL", [GREETING, EHLO_PLAIN], 300),
    ("RCPT", [GREETING, EHLO_PLAIN, OK], 300),
    ("DATA initiation", [GREETING, EHLO_PLAIN, OK, RCPT_OK], 120),
    ("after the final dot", [GREETING, EHLO_PLAIN, OK, RCPT_OK, GO_AHEAD], 600),
    ("QUIT", [GREETING, EHLO_PLAIN, OK, RCPT_OK, GO_AHEAD, QUEUED], 300),
    ("done", [GREETING, EHLO_PLAIN, OK, RCPT_OK, GO_AHEAD, QUEUED, b"221 bye\r\n"], None),
    ("pipelined group: MAIL first", [GREETING, EHLO_PIPELINING], 300),
    ("pipelined: DATA last", [GREETING, EHLO_PIPELINING, OK + RCPT_OK], 120),
]


@pytest.mark.parametrize("replies, seconds", [t[1:] for t in TIMEOUTS], ids=[t[0] for t in TIMEOUTS])
def test_timeout_per_stage(replies, seconds):
    client = Client([T])
    for reply in replies:
        client.feed(reply)
    assert client.conn.timeout == seconds


def test_timeouts_are_configurable():
    config = ClientConfig("client.example", timeouts=ClientTimeouts(greeting=5, data_done=7))
    client = Client([T], config)
    assert client.conn.timeout == 5
    for reply in (GREETING, EHLO_PLAIN, OK, RCPT_OK, GO_AHEAD):
        client.feed(reply)
    assert client.conn.timeout == 7


# --- malformed replies -------------------------------------------------------------------------------------

MALFORMED = [
    ("no code", b"hello\r\n"),
    ("two digits", b"25 ok\r\n"),
    ("four digits", b"2500 ok\r\n"),
    ("no separator", b"250ok\r\n"),
    ("1xx", b"150 wait\r\n"),
    ("6xx", b"650 what\r\n"),
    ("code changes in a multi-line reply", b"250-mx.example\r\n251 PIPELINING\r\n"),
    ("class changes in a multi-line reply", b"250-mx.example\r\n550 no\r\n"),
    ("empty line", b"\r\n"),
    ("endless line", b"250-" + b"x" * 10_000),
]


@pytest.mark.parametrize("wire", [m[1] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_reply_is_a_protocol_violation(wire):
    client = Client(two_transactions())
    client.feed(GREETING)
    assert client.feed(wire) == b""
    assert client.conn.done
    assert client.session_done == [SessionDone(R.PROTOCOL_VIOLATION)]
    assert len(client.results) == 2
    assert all(r.status is Status.TEMPORARY for res in client.results for r in res.recipients)
    assert client.feed(EHLO_PLAIN) == b""


def test_malformed_greeting():
    client = Client([T])
    assert client.feed(b"SSH-2.0-OpenSSH_9.6\r\n") == b""
    assert client.conn.done and client.results[0].recipients[0].reply == R.PROTOCOL_VIOLATION


def test_reply_lines_with_bare_lf_are_read():
    client = Client([T])
    assert client.feed(b"220 mx.example\n") == b"EHLO client.example\r\n"


def test_multi_line_reply_with_enhanced_codes():
    client, _ = started_client([T], EHLO_PLAIN)
    client.feed(b"550-5.1.1 no such user\r\n550 5.1.1 try another\r\n")
    replied = [e for e in client.events if isinstance(e, ServerReplied)][-1]
    assert replied.reply == Reply(550, "5.1.1", "no such user\ntry another")
    assert replied.stage is Stage.MAIL


def test_multi_line_reply_without_enhanced_codes():
    client = Client([T])
    client.feed(GREETING)
    client.feed(b"250-mx.example Hello\r\n250-SIZE 1000\r\n250 HELP\r\n")
    replied = [e for e in client.events if isinstance(e, ServerReplied)][-1]
    assert replied.reply == Reply(250, None, "mx.example Hello\nSIZE 1000\nHELP")
    assert replied.command == Ehlo("client.example")


# --- content on the way out (§4.5.2, §2.3.8) ---------------------------------------------------------------

OUTGOING = [
    ("dot-stuffing", b".hidden\r\nok\r\n.\r\n..\r\n", b"..hidden\r\nok\r\n..\r\n...\r\n.\r\n"),
    ("bare LF normalised", b"a\nb\n", b"a\r\nb\r\n.\r\n"),
    ("final CRLF added", b"no newline", b"no newline\r\n.\r\n"),
    ("empty content", b"", b".\r\n"),
    ("smuggling attempt is stuffed", b"a\n.\nMAIL FROM:<x@y>\n", b"a\r\n..\r\nMAIL FROM:<x@y>\r\n.\r\n"),
]


@pytest.mark.parametrize("content, wire", [o[1:] for o in OUTGOING], ids=[o[0] for o in OUTGOING])
def test_content_on_the_wire(content, wire):
    t = transaction(content=content)
    client, _ = started_client([t], EHLO_BARE)
    client.feed(OK)
    client.feed(RCPT_OK)
    assert client.feed(GO_AHEAD) == wire


# --- several transactions ----------------------------------------------------------------------------------

def test_several_transactions_over_one_connection():
    t1 = transaction("b1@example.net", tag="q1")
    t2 = transaction("b2@example.net", "b3@example.net", content=b"second\r\n", sender="", tag="q2")
    t3 = transaction("b4@example.net", tag="q3")
    client, sent = started_client([t1, t2, t3], EHLO_PIPELINING)
    assert sent == mail_line(t1, SIZE) + rcpt_line("b1@example.net") + b"DATA\r\n"
    assert client.feed(OK + RCPT_OK + GO_AHEAD) == CONTENT_T
    assert client.feed(QUEUED) == (b"MAIL FROM:<> SIZE=8\r\n" + rcpt_line("b2@example.net")
                                   + rcpt_line("b3@example.net") + b"DATA\r\n")
    assert client.feed(OK + RCPT_OK + NO_USER + GO_AHEAD) == b"second\r\n.\r\n"
    assert client.feed(b"451 4.3.0 later\r\n") == mail_line(t3, SIZE) + rcpt_line("b4@example.net") + b"DATA\r\n"
    assert client.feed(OK + RCPT_OK + GO_AHEAD) == CONTENT_T
    assert client.feed(QUEUED) == QUIT
    assert client.feed(b"221 2.0.0 bye\r\n") == b""
    assert [r.transaction.tag for r in client.results] == ["q1", "q2", "q3"]
    assert [[r.status for r in res.recipients] for res in client.results] == [
        [Status.ACCEPTED], [Status.TEMPORARY, Status.PERMANENT], [Status.ACCEPTED]]
    assert isinstance(client.events[-1], SessionDone) and client.conn.done
    assert sum(isinstance(e, TransactionDone) for e in client.events) == 3


def test_no_transactions_just_quits():
    client = Client([])
    client.feed(GREETING)
    assert client.feed(EHLO_PLAIN) == QUIT
    client.feed(b"221 bye\r\n")
    assert client.conn.done and client.results == []


def test_after_done_input_is_ignored():
    client = Client([])
    client.feed(GREETING)
    client.feed(EHLO_PLAIN)
    client.feed(b"221 bye\r\n")
    n = len(client.events)
    assert client.feed(b"250 more\r\n") == b"" and client.lose() == b"" and len(client.events) == n


def test_default_config_says_ehlo_localhost():
    client = ClientConnection([T])
    client.receive_data(GREETING)
    while client.next_event() is not NEED_DATA:
        pass
    assert client.data_to_send() == b"EHLO localhost\r\n"
