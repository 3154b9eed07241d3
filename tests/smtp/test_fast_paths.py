"""The engine's fast paths and caches give exactly what the plain code gives (white-box, against models)."""

from hypothesis import given
from hypothesis import strategies as st

from maillab.smtp import Reply, ReplyParser, is_mailbox
from maillab.smtp import commands as C
from maillab.smtp import replies as R
from maillab.smtp.caching import BoundedCache
from maillab.smtp.reader import (
    MAX_TEXT_LINE,
    CommandReader,
    LineDefect,
    _has_long_line,
    normalize_line_ends,
)

from .helpers import FUZZ

LINE_PIECES = st.sampled_from([b".", b"a", b"\r\n", b"\n", b"\r", b" ", b"x" * 499, b"y" * 500, b"z" * 997])


# --- the reply cache ---------------------------------------------------------------------------------------

def test_a_repeated_reply_line_gives_an_equal_reply():
    first = ReplyParser().feed_line(b"250 2.1.0 Ok")
    again = ReplyParser().feed_line(b"250 2.1.0 Ok")
    assert first == again == Reply(250, "2.1.0", "Ok")


def test_a_cached_reply_equals_a_freshly_parsed_one():
    ReplyParser().feed_line(b"550 5.1.1 no such user")
    uncached = ReplyParser().feed_line(bytearray(b"550 5.1.1 no such user"))  # a bytearray is never cached
    assert ReplyParser().feed_line(b"550 5.1.1 no such user") == uncached == Reply(550, "5.1.1", "no such user")


def test_a_repeated_multi_line_reply_gives_an_equal_reply():
    for _ in range(2):
        parser = ReplyParser()
        assert parser.feed_line(b"250-mx.example") is None
        assert parser.feed_line(b"250 PIPELINING") == Reply(250, None, "mx.example\nPIPELINING")


def test_a_cached_line_still_checks_the_code_of_a_multi_line_reply():
    ReplyParser().feed_line(b"251 Ok")
    parser = ReplyParser()
    parser.feed_line(b"250-a")
    try:
        parser.feed_line(b"251 Ok")
    except R.RemoteProtocolError:
        return
    raise AssertionError("a continuation with another code must raise")


def test_the_reply_caches_cannot_grow_without_bound():
    for number in range(3 * R._ONE_LINE_REPLIES.limit):
        ReplyParser().feed_line(b"250 2.0.0 queued as %d" % number)
        parser = ReplyParser()
        parser.feed_line(b"250-first %d" % number)
        parser.feed_line(b"250 last")
    assert 0 < len(R._ONE_LINE_REPLIES) <= R._ONE_LINE_REPLIES.limit
    assert 0 < len(R._MULTI_LINE_REPLIES) <= R._MULTI_LINE_REPLIES.limit
    assert 0 < len(R._SPLIT_LINES) <= R._SPLIT_LINES.limit


def test_bounded_cache_starts_again_when_full():
    cache: BoundedCache[int, str] = BoundedCache(3)
    for key in range(10):
        assert cache.remember(key, str(key)) == str(key)
        assert len(cache) <= 3 and cache[key] == str(key)


# --- the readers -------------------------------------------------------------------------------------------

def long_line_model(data: bytes) -> bool:
    return max(map(len, data.split(b"\r\n"))) + 2 > MAX_TEXT_LINE


@FUZZ
@given(st.lists(LINE_PIECES, max_size=12).map(b"".join))
def test_long_line_check_matches_splitting_into_lines(data):
    assert _has_long_line(data) == long_line_model(data)


def test_long_line_check_at_the_limit_wherever_the_line_starts():
    for length in (998, 999, 1000, 1500):
        for start in range(999):  # the first line stays short: at most 998 octets
            data = b"a" * start + b"\r\n" + b"x" * length + b"\r\nend\r\n"
            assert _has_long_line(data) == long_line_model(data) == (length > 998), (length, start)


@FUZZ
@given(st.lists(LINE_PIECES, max_size=12).map(b"".join))
def test_normalize_line_ends_matches_a_model(content):
    expected = content  # the plain version: look for an LF left once every CRLF is gone
    if b"\n" in content.replace(b"\r\n", b""):
        expected = content.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    expected = expected if not expected or expected.endswith(b"\r\n") else expected + b"\r\n"
    assert normalize_line_ends(content) == expected


def command_line_model(raw: bytes) -> tuple[str, LineDefect, bool]:
    bare_lf = not raw.endswith(b"\r\n")
    body = raw[:-1] if bare_lf else raw[:-2]
    if len(raw) > 512:
        return "", LineDefect.TOO_LONG, bare_lf
    if not body.isascii() or b"\x00" in body or b"\r" in body:
        return body.decode("latin-1"), LineDefect.BAD_CHARACTER, bare_lf
    return body.decode("ascii"), LineDefect.NONE, bare_lf


@FUZZ
@given(st.binary(max_size=40) | st.lists(st.sampled_from([b"a", b"\r", b"\x00", b"\xe9", b"x" * 300]),
                                          max_size=4).map(b"".join),
       st.sampled_from([b"\r\n", b"\n", b"\r\r\n"]))
def test_command_reader_matches_a_model(body, end):
    raw = body.replace(b"\n", b"") + end
    buffer = bytearray(raw + b"NEXT")
    assert CommandReader().next_line(buffer) == command_line_model(raw)
    assert buffer == bytearray(b"NEXT")


# --- commands ----------------------------------------------------------------------------------------------

def full_mailbox_check(address: str) -> bool:
    """is_mailbox without its fast path."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or len(local) > C.MAX_LOCAL_PART or len(domain) > C.MAX_DOMAIN:
        return False
    local_ok = C._DOT_ATOM.match(local) is not None or C._QUOTED.match(local) is not None
    return local_ok and (C._DOMAIN.match(domain) is not None or C._ADDRESS_LITERAL.match(domain) is not None)


MAILBOX_PIECES = st.sampled_from(["a", "Z9", ".", "@", "-", '"', "\\", " ", "[", "]", "1.2.3.4", "\n", "é",
                                  "x" * 40, "+tag", "!#$"])


@FUZZ
@given(st.lists(MAILBOX_PIECES, max_size=8).map("".join))
def test_is_mailbox_matches_the_full_check(address):
    assert is_mailbox(address) == full_mailbox_check(address)


def test_is_mailbox_fast_path_respects_the_length_limits():
    assert is_mailbox("a" * 64 + "@b.example") and not is_mailbox("a" * 65 + "@b.example")
    assert is_mailbox("a@" + "b" * 63 + ".example")


@FUZZ
@given(st.lists(st.sampled_from(["MAIL FROM:", "RCPT TO:", "<", ">", '"', "\\", "a@b.example", " ", "SIZE=1",
                                 "EHLO", "DATA", "x"]), max_size=7).map("".join))
def test_a_cached_parse_equals_a_fresh_one(line):
    assert C.parse_command(line) == C._parse_line(line)
    assert C.parse_command(line) == C._parse_line(line)  # the second time from the cache


def test_the_parse_cache_cannot_grow_without_bound():
    for number in range(3 * C._PARSED.limit):
        assert C.parse_command(f"RCPT TO:<user{number}@example.net>") == C.Rcpt(f"user{number}@example.net")
    assert 0 < len(C._PARSED) <= C._PARSED.limit


def test_wire_forms_are_remembered_per_reply_and_bounded():
    for number in range(3 * R._WIRE_FORMS.limit):
        reply = Reply(250, "2.0.0", f"queued as {number}")
        assert reply.to_bytes() == f"250 2.0.0 queued as {number}\r\n".encode()
        assert reply.to_bytes(False) == f"250 queued as {number}\r\n".encode()
        assert Reply(250, "2.0.0", f"queued as {number}").to_bytes() == reply.to_bytes()  # equal, built anew
    assert 0 < len(R._WIRE_FORMS) <= R._WIRE_FORMS.limit


# --- shared events -----------------------------------------------------------------------------------------

def test_shared_events_equal_fresh_ones_and_their_caches_are_bounded():
    from maillab.smtp import ConnectionPair, RecipientResult, Replied, ServerReplied, Transaction
    from maillab.smtp import client as client_module
    from maillab.smtp import server as server_module

    limit = server_module._REPLIED.limit
    for number in range(0, 3 * limit, 50):
        recipients = tuple(f"user{number + i}@example.net" for i in range(50))
        pair = ConnectionPair.build([Transaction("a@example.org", recipients, b"x\r\n")], record=False).run()
        for event in pair.server_events:
            if isinstance(event, Replied):
                assert event == Replied(event.line, event.command, event.reply)
        for event in pair.client_events:
            if isinstance(event, ServerReplied):
                assert event == ServerReplied(event.stage, event.command, event.reply)
        for result in pair.results[0].recipients:
            assert result == RecipientResult(result.recipient, result.reply, result.stage)
        assert [r.recipient for r in pair.results[0].recipients] == list(recipients)
    assert 0 < len(server_module._REPLIED) <= limit
    assert 0 < len(client_module._SERVER_REPLIED) <= client_module._SERVER_REPLIED.limit
    assert 0 < len(client_module._RECIPIENT_RESULTS) <= client_module._RECIPIENT_RESULTS.limit
