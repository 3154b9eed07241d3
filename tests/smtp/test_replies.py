"""Reply values, their wire form and the reply parser (RFC 5321 §4.2, RFC 3463, RFC 2034)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maillab.smtp import RemoteProtocolError, Reply, ReplyClass, ReplyParser, replies

from .helpers import FUZZ, REPLY_LINE

# --- the value type ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [199, 100, 600, 0, 1000])
def test_reply_code_must_be_2xx_to_5xx(code):
    with pytest.raises(ValueError):
        Reply(code, None, "x")


@pytest.mark.parametrize(
    "code, enhanced",
    [(250, "4.0.0"), (550, "2.1.0"), (450, "5.1.1"), (250, "3.0.0"), (250, "2.0"), (250, "2.0.0.0"),
     (250, "2.1000.0"), (250, "x.y.z"), (250, "")],
)
def test_enhanced_code_must_fit_the_reply(code, enhanced):
    with pytest.raises(ValueError):
        Reply(code, enhanced, "x")


@pytest.mark.parametrize(
    "code, kind, positive, transient, permanent",
    [
        (220, ReplyClass.POSITIVE, True, False, False),
        (354, ReplyClass.INTERMEDIATE, True, False, False),
        (421, ReplyClass.TRANSIENT, False, True, False),
        (499, ReplyClass.TRANSIENT, False, True, False),
        (500, ReplyClass.PERMANENT, False, False, True),
        (599, ReplyClass.PERMANENT, False, False, True),
    ],
)
def test_reply_class_is_decided_by_the_first_digit(code, kind, positive, transient, permanent):
    reply = Reply(code, None, "x")
    assert (reply.kind, reply.is_positive, reply.is_transient, reply.is_permanent) == (
        kind, positive, transient, permanent)


WIRE = [
    ("single line", Reply(250, "2.1.0", "Ok"), True, b"250 2.1.0 Ok\r\n"),
    ("single line, enhanced off", Reply(250, "2.1.0", "Ok"), False, b"250 Ok\r\n"),
    ("no enhanced code", Reply(354, None, "go ahead"), True, b"354 go ahead\r\n"),
    ("multi-line", Reply(250, None, "mx\nPIPELINING\nSIZE 0"), True, b"250-mx\r\n250-PIPELINING\r\n250 SIZE 0\r\n"),
    ("multi-line, enhanced on every line (RFC 2034 §3)", Reply(214, "2.0.0", "a\nb"), True,
     b"214-2.0.0 a\r\n214 2.0.0 b\r\n"),
    ("multi-line, enhanced off", Reply(214, "2.0.0", "a\nb"), False, b"214-a\r\n214 b\r\n"),
    ("empty text", Reply(250, None, ""), True, b"250\r\n"),
    ("empty text with enhanced", Reply(250, "2.0.0", ""), True, b"250 2.0.0\r\n"),
]


@pytest.mark.parametrize("reply, enhanced, wire", [w[1:] for w in WIRE], ids=[w[0] for w in WIRE])
def test_reply_wire_form(reply, enhanced, wire):
    assert reply.to_bytes(enhanced) == wire


def test_with_text_keeps_codes():
    assert replies.OK.with_text("fine") == Reply(250, "2.0.0", "fine")


def test_str_is_one_line():
    assert str(Reply(250, "2.0.0", "a\nb")) == "250 2.0.0 a / b"


# --- every named reply -------------------------------------------------------------------------------------

NAMED = {name: value for name, value in vars(replies).items() if isinstance(value, Reply)}


def test_there_are_named_replies():
    assert len(NAMED) > 40


@pytest.mark.parametrize("name", sorted(NAMED))
def test_named_reply_carries_an_enhanced_code(name):
    """RFC 2034 §3: every reply but the greeting and the EHLO/HELO reply carries one; 3xx has no class."""
    reply = NAMED[name]
    if reply.code == 354:
        assert reply.enhanced is None
    else:
        assert reply.enhanced is not None and reply.enhanced[0] == str(reply.code)[0]
    for line in reply.to_bytes().splitlines(keepends=True):
        assert REPLY_LINE.match(line)


@pytest.mark.parametrize(
    "name, code, enhanced",
    [
        ("NO_SUCH_USER", 550, "5.1.1"), ("BAD_ADDRESS", 501, "5.1.3"), ("SIZE_EXCEEDED", 552, "5.3.4"),
        ("INSUFFICIENT_STORAGE", 452, "4.3.1"), ("MAILBOX_FULL", 452, "4.2.2"), ("UNRECOGNIZED", 500, "5.5.1"),
        ("LINE_TOO_LONG", 500, "5.5.2"), ("TOO_MANY_RECIPIENTS", 452, "4.5.3"), ("RELAY_DENIED", 554, "5.7.1"),
        ("CONNECTION_LOST", 451, "4.4.2"), ("NOT_IMPLEMENTED", 502, "5.5.1"), ("NEED_MAIL", 503, "5.5.1"),
        ("NO_VALID_RECIPIENTS", 554, "5.5.1"), ("UNSUPPORTED_PARAMETER", 555, "5.5.4"),
        ("TOO_MANY_ERRORS", 421, "4.7.0"), ("CANNOT_VRFY", 252, "2.0.0"), ("HELP", 214, "2.0.0"),
    ],
)
def test_named_reply_codes_match_the_rfcs(name, code, enhanced):
    """REFERENCE §1: reply codes of RFC 5321 §4.2.2-3 and enhanced codes of RFC 3463."""
    assert (NAMED[name].code, NAMED[name].enhanced) == (code, enhanced)


def test_greeting_replies():
    assert replies.ready("mx.example").to_bytes() == b"220 mx.example ESMTP maillab\r\n"
    assert replies.no_service("mx.example").code == 554
    assert replies.not_available("mx.example").code == 421
    assert replies.closing("mx.example").to_bytes() == b"221 2.0.0 mx.example closing connection\r\n"


# --- the parser --------------------------------------------------------------------------------------------


def parse(*lines: bytes) -> list[Reply]:
    parser = ReplyParser()
    out = [parser.feed_line(line) for line in lines]
    assert all(r is None for r in out[:-1])
    return [r for r in out if r is not None]


PARSED = [
    ("plain", [b"250 Ok"], Reply(250, None, "Ok")),
    ("enhanced", [b"250 2.1.0 Ok"], Reply(250, "2.1.0", "Ok")),
    ("code only", [b"250"], Reply(250, None, "")),
    ("code and space", [b"250 "], Reply(250, None, "")),
    ("multi-line", [b"250-mx.example", b"250-PIPELINING", b"250 SIZE 1000"],
     Reply(250, None, "mx.example\nPIPELINING\nSIZE 1000")),
    ("multi-line enhanced", [b"550-5.1.1 no such", b"550 5.1.1 user"], Reply(550, "5.1.1", "no such\nuser")),
    ("enhanced of the wrong class is text", [b"250 5.1.1 odd"], Reply(250, None, "5.1.1 odd")),
    ("dotted text is not an enhanced code", [b"250 2.0 Ok"], Reply(250, None, "2.0 Ok")),
    ("unknown code", [b"299 whatever"], Reply(299, None, "whatever")),
    ("8-bit text is replaced, not fatal", [b"250 caf\xff"], Reply(250, None, "caf\ufffd")),
]


@pytest.mark.parametrize("lines, reply", [p[1:] for p in PARSED], ids=[p[0] for p in PARSED])
def test_reply_parser(lines, reply):
    assert parse(*lines) == [reply]


@pytest.mark.parametrize(
    "lines",
    [
        [b"hello"], [b""], [b"25 Ok"], [b"2500 Ok"], [b"250Ok"], [b"150 Ok"], [b"650 Ok"], [b"099 Ok"],
        [b"250-a", b"251 b"], [b"250-a", b"550 b"], [b"250-a", b"garbage"], [b" 250 Ok"],
    ],
    ids=repr,
)
def test_reply_parser_rejects_malformed_lines(lines):
    parser = ReplyParser()
    with pytest.raises(RemoteProtocolError):
        for line in lines:
            parser.feed_line(line)


def test_reply_parser_is_reusable_after_a_reply():
    parser = ReplyParser()
    assert parser.feed_line(b"250-a") is None
    assert parser.feed_line(b"250 b") == Reply(250, None, "a\nb")
    assert parser.feed_line(b"354 go") == Reply(354, None, "go")


@FUZZ
@given(
    code=st.integers(200, 599),
    enhanced=st.booleans(),
    text=st.lists(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30), min_size=1,
                  max_size=4),
)
def test_wire_form_parses_back(code, enhanced, text):
    """to_bytes then ReplyParser is the identity (text lines that would look like enhanced codes aside)."""
    ecode = f"{code // 100}.0.0" if enhanced and code // 100 != 3 else None
    reply = Reply(code, ecode, "\n".join(text))
    wire = reply.to_bytes(True)
    parser = ReplyParser()
    lines = wire.split(b"\r\n")[:-1]
    result = [parser.feed_line(line) for line in lines]
    assert result[:-1] == [None] * (len(lines) - 1)
    parsed = result[-1]
    assert parsed is not None and parsed.code == code
    for line in wire.splitlines(keepends=True):
        assert REPLY_LINE.match(line)
    if ecode:
        assert parsed.enhanced == ecode
        assert [line.strip(" ") for line in parsed.lines] == [line.strip(" ") for line in reply.lines]
