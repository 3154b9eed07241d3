"""The server role, byte level: one table row per command situation (RFC 5321 §3, §4; RFC 1870; RFC 2920).

Each row: (name, bytes sent after the greeting and ``EHLO client.example``, the replies expected as
``"code[ enhanced]"`` strings, one per reply in order). Byte-exact tables follow for the replies whose layout
matters (greeting, EHLO, HELO, HELP, 354, 221).
"""

import pytest

from maillab.errors import ConfigError, LocalProtocolError
from maillab.smtp import (
    NEED_DATA,
    Closed,
    DefaultPolicy,
    Greeted,
    Mail,
    Rcpt,
    Replied,
    Reply,
    ServerConfig,
    ServerConnection,
    ServerState,
)
from maillab.smtp import replies as R

from .helpers import MAIL, RCPT, SERVER_LINE, Server, enhanced_of, lines_of, replies_in, summary

M, RC = MAIL, RCPT
R2 = b"RCPT TO:<carol@example.net>\r\n"
LOCAL_64 = "l" * 64
DOMAIN_189 = "a" * 63 + "." + "b" * 63 + "." + "c" * 61
MSG = b"DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n"

# --- after EHLO --------------------------------------------------------------------------------------------

AFTER_EHLO = [
    # the ordinary commands
    ("NOOP", b"NOOP\r\n", ["250 2.0.0"]),
    ("NOOP with text", b"NOOP are you there\r\n", ["250 2.0.0"]),
    ("RSET", b"RSET\r\n", ["250 2.0.0"]),
    ("VRFY", b"VRFY bob\r\n", ["252 2.0.0"]),
    ("VRFY without argument", b"VRFY\r\n", ["501 5.5.4"]),
    ("HELP", b"HELP\r\n", ["214 2.0.0"]),
    ("HELP topic", b"HELP MAIL\r\n", ["214 2.0.0"]),
    ("MAIL", M, ["250 2.1.0"]),
    ("null sender", b"MAIL FROM:<>\r\n", ["250 2.1.0"]),
    ("MAIL RCPT", M + RC, ["250 2.1.0", "250 2.1.5"]),
    ("two RCPT", M + RC + R2, ["250 2.1.0", "250 2.1.5", "250 2.1.5"]),
    ("RCPT postmaster without domain (§4.5.1)", M + b"RCPT TO:<postmaster>\r\n", ["250 2.1.0", "250 2.1.5"]),
    ("RCPT Postmaster any case", M + b"RCPT TO:<PostMaster>\r\n", ["250 2.1.0", "250 2.1.5"]),
    ("DATA", M + RC + b"DATA\r\n", ["250 2.1.0", "250 2.1.5", "354"]),
    ("whole transaction", M + RC + MSG, ["250 2.1.0", "250 2.1.5", "354", "250 2.0.0"]),
    ("null sender transaction", b"MAIL FROM:<>\r\n" + RC + MSG, ["250 2.1.0", "250 2.1.5", "354", "250 2.0.0"]),
    ("second transaction needs no RSET", M + RC + MSG + M + RC + MSG,
     ["250 2.1.0", "250 2.1.5", "354", "250 2.0.0"] * 2),
    ("source route dropped", b"MAIL FROM:<@relay.example:alice@example.org>\r\n", ["250 2.1.0"]),
    ("quoted local part", b'MAIL FROM:<"alice smith"@example.org>\r\n', ["250 2.1.0"]),
    ("address literal", M + b"RCPT TO:<bob@[192.0.2.1]>\r\n", ["250 2.1.0", "250 2.1.5"]),
    ("longest path: 256 octets with <>", M + f"RCPT TO:<{LOCAL_64}@{DOMAIN_189}>\r\n".encode(),
     ["250 2.1.0", "250 2.1.5"]),
    ("trailing space tolerated", b"MAIL FROM:<alice@example.org> \r\n", ["250 2.1.0"]),
    # case-insensitive verbs and keywords (§2.4)
    ("lower-case", b"mail from:<a@b.example>\r\nrcpt to:<c@d.example>\r\ndata\r\n", ["250 2.1.0", "250 2.1.5", "354"]),
    ("mixed case", b"MaIl FrOm:<a@b.example>\r\nrCpT tO:<c@d.example>\r\nDaTa\r\n", ["250 2.1.0", "250 2.1.5", "354"]),
    ("lower-case noop/rset/quit", b"noop\r\nrset\r\nquit\r\n", ["250 2.0.0", "250 2.0.0", "221 2.0.0"]),
    ("lower-case param keyword", b"MAIL FROM:<a@b.example> size=100\r\n", ["250 2.1.0"]),
    # sequence errors (§4.1.4, §3.3)
    ("RCPT before MAIL", RC, ["503 5.5.1"]),
    ("DATA before MAIL", b"DATA\r\n", ["503 5.5.1"]),
    ("nested MAIL", M + M, ["250 2.1.0", "503 5.5.1"]),
    ("nested MAIL after RCPT", M + RC + M, ["250 2.1.0", "250 2.1.5", "503 5.5.1"]),
    ("DATA with no RCPT", M + b"DATA\r\n", ["250 2.1.0", "503 5.5.1"]),
    ("DATA after a RCPT syntax error", M + b"RCPT TO:<>\r\nDATA\r\n", ["250 2.1.0", "501 5.1.3", "503 5.5.1"]),
    ("RSET clears the transaction", M + RC + b"RSET\r\nDATA\r\n", ["250 2.1.0", "250 2.1.5", "250 2.0.0", "503 5.5.1"]),
    ("RSET then MAIL", M + b"RSET\r\n" + M, ["250 2.1.0", "250 2.0.0", "250 2.1.0"]),
    ("second EHLO resets the transaction", M + RC + b"EHLO again.example\r\nDATA\r\n" + RC,
     ["250 2.1.0", "250 2.1.5", "250", "503 5.5.1", "503 5.5.1"]),
    ("HELO resets the transaction", M + RC + b"HELO again.example\r\nDATA\r\n",
     ["250 2.1.0", "250 2.1.5", "250", "503 5.5.1"]),
    ("NOOP keeps the transaction", M + RC + b"NOOP\r\nDATA\r\n", ["250 2.1.0", "250 2.1.5", "250 2.0.0", "354"]),
    ("VRFY and HELP keep the transaction", M + RC + b"VRFY x\r\nHELP\r\nDATA\r\n",
     ["250 2.1.0", "250 2.1.5", "252 2.0.0", "214 2.0.0", "354"]),
    ("a rejected MAIL leaves no transaction", b"MAIL FROM:<bad>\r\n" + RC, ["501 5.1.3", "503 5.5.1"]),
    ("bad EHLO keeps the transaction (§4.1.4)", M + RC + b"EHLO\r\nDATA\r\n",
     ["250 2.1.0", "250 2.1.5", "501 5.5.4", "354"]),
    # arguments where none belong (§4.1.1)
    ("DATA with argument", M + RC + b"DATA now\r\n", ["250 2.1.0", "250 2.1.5", "501 5.5.4"]),
    ("RSET with argument", b"RSET all\r\n", ["501 5.5.4"]),
    ("QUIT with argument", b"QUIT now\r\n", ["501 5.5.4"]),
    ("EHLO without name", b"EHLO\r\n", ["501 5.5.4"]),
    ("HELO without name", b"HELO\r\n", ["501 5.5.4"]),
    ("MAIL without FROM:", b"MAIL alice@example.org\r\n", ["501 5.5.4"]),
    ("MAIL TO:", b"MAIL TO:<alice@example.org>\r\n", ["501 5.5.4"]),
    ("RCPT without TO:", M + b"RCPT <bob@example.net>\r\n", ["250 2.1.0", "501 5.5.4"]),
    # verbs
    ("unknown verb", b"FOO bar\r\n", ["500 5.5.1"]),
    ("empty line", b"\r\n", ["500 5.5.1"]),
    ("EXPN not implemented", b"EXPN staff\r\n", ["502 5.5.1"]),
    ("TURN not implemented", b"TURN\r\n", ["502 5.5.1"]),
    ("ETRN not implemented", b"ETRN example.org\r\n", ["502 5.5.1"]),
    # parameters (RFC 1870, RFC 6152, §4.1.1.11)
    ("unsupported MAIL parameter", b"MAIL FROM:<a@b.example> FOO=BAR\r\n", ["555 5.5.4"]),
    ("unsupported MAIL keyword", b"MAIL FROM:<a@b.example> SMTPUTF8\r\n", ["555 5.5.4"]),
    ("unsupported RCPT parameter", M + b"RCPT TO:<b@c.example> NOTIFY=NEVER\r\n", ["250 2.1.0", "555 5.5.4"]),
    ("SIZE", b"MAIL FROM:<a@b.example> SIZE=1000\r\n", ["250 2.1.0"]),
    ("SIZE at the limit", b"MAIL FROM:<a@b.example> SIZE=10240000\r\n", ["250 2.1.0"]),
    ("SIZE over the limit", b"MAIL FROM:<a@b.example> SIZE=10240001\r\n", ["552 5.3.4"]),
    ("SIZE of 20 digits", b"MAIL FROM:<a@b.example> SIZE=99999999999999999999\r\n", ["552 5.3.4"]),
    ("SIZE of 21 digits", b"MAIL FROM:<a@b.example> SIZE=999999999999999999999\r\n", ["501 5.5.4"]),
    ("SIZE not a number", b"MAIL FROM:<a@b.example> SIZE=big\r\n", ["501 5.5.4"]),
    ("SIZE negative", b"MAIL FROM:<a@b.example> SIZE=-1\r\n", ["501 5.5.4"]),
    ("SIZE on the null sender", b"MAIL FROM:<> SIZE=10\r\n", ["250 2.1.0"]),
    ("BODY=8BITMIME", b"MAIL FROM:<a@b.example> BODY=8BITMIME\r\n", ["250 2.1.0"]),
    ("BODY=7BIT", b"MAIL FROM:<a@b.example> BODY=7BIT\r\n", ["250 2.1.0"]),
    ("BODY=BINARYMIME", b"MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n", ["555 5.5.4"]),
    ("SIZE and BODY", b"MAIL FROM:<a@b.example> SIZE=10 BODY=8BITMIME\r\n", ["250 2.1.0"]),
    # address syntax (§4.1.2) and limits (§4.5.3.1)
    ("no @", b"MAIL FROM:<alice>\r\n", ["501 5.1.3"]),
    ("empty local part", b"MAIL FROM:<@example.org>\r\n", ["501 5.1.3"]),
    ("empty domain", b"MAIL FROM:<alice@>\r\n", ["501 5.1.3"]),
    ("space in address", b"MAIL FROM:<al ice@example.org>\r\n", ["501 5.1.3"]),
    ("double dot in domain", b"MAIL FROM:<alice@example..org>\r\n", ["501 5.1.3"]),
    ("missing >", b"MAIL FROM:<alice@example.org\r\n", ["501 5.1.3"]),
    ("junk after >", b"MAIL FROM:<alice@example.org>junk\r\n", ["501 5.1.3"]),
    ("RCPT null path", M + b"RCPT TO:<>\r\n", ["250 2.1.0", "501 5.1.3"]),
    ("RCPT bad address", M + b"RCPT TO:<bob@@example.net>\r\n", ["250 2.1.0", "501 5.1.3"]),
    ("MAIL from postmaster without domain", b"MAIL FROM:<postmaster>\r\n", ["501 5.1.3"]),
    ("local part of 65", M + f"RCPT TO:<{LOCAL_64}x@example.net>\r\n".encode(), ["250 2.1.0", "501 5.1.3"]),
    ("path of 257 octets", M + f"RCPT TO:<{LOCAL_64}@{DOMAIN_189}c>\r\n".encode(), ["250 2.1.0", "501 5.1.3"]),
    ("MAIL path too long", f"MAIL FROM:<{LOCAL_64}@{DOMAIN_189}c>\r\n".encode(), ["501 5.1.3"]),
    # line defects (§2.3.8, §4.5.3.1.4)
    ("bare LF", b"NOOP\n", ["500 5.5.2"]),
    ("bare LF then CRLF line", b"NOOP\nNOOP\r\n", ["500 5.5.2", "250 2.0.0"]),
    ("CR inside a line", b"NO\rOP\r\n", ["500 5.5.2"]),
    ("CR CR LF", b"NOOP\r\r\n", ["500 5.5.2"]),
    ("NUL", b"NOOP \x00\r\n", ["500 5.5.2"]),
    ("8-bit", b"NOOP caf\xc3\xa9\r\n", ["500 5.5.2"]),
    ("8-bit address (no SMTPUTF8)", b"MAIL FROM:<j\xc3\xb6rg@example.org>\r\n", ["500 5.5.2"]),
    ("a defective line does not disturb the transaction", M + RC + b"\x00\r\nDATA\r\n",
     ["250 2.1.0", "250 2.1.5", "500 5.5.2", "354"]),
    # QUIT (§4.1.1.10)
    ("QUIT", b"QUIT\r\n", ["221 2.0.0"]),
    ("commands after QUIT are ignored", b"QUIT\r\nNOOP\r\nMAIL FROM:<a@b.example>\r\nFOO\r\n", ["221 2.0.0"]),
    ("QUIT mid-transaction", M + RC + b"QUIT\r\n" + MSG, ["250 2.1.0", "250 2.1.5", "221 2.0.0"]),
    ("QUIT in the same chunk after a message", M + RC + MSG + b"QUIT\r\n",
     ["250 2.1.0", "250 2.1.5", "354", "250 2.0.0", "221 2.0.0"]),
]


def ids(table):
    return [row[0] for row in table]


@pytest.mark.parametrize("data, expected", [row[1:] for row in AFTER_EHLO], ids=ids(AFTER_EHLO))
def test_after_ehlo(data, expected):
    server = Server()
    out = server.send(data)
    assert summary(out) == expected
    assert all(SERVER_LINE.match(line) for line in lines_of(out))


@pytest.mark.parametrize("data, expected", [row[1:] for row in AFTER_EHLO], ids=ids(AFTER_EHLO))
def test_after_ehlo_one_byte_at_a_time(data, expected):
    """The same rows, fed one octet per receive_data: the engine must not depend on packet boundaries."""
    server = Server()
    out = server.send_in_pieces([data[i:i + 1] for i in range(len(data))])
    assert summary(out) == expected


def test_mail_from_with_no_path_is_rejected():
    assert summary(Server().send(b"MAIL FROM:\r\n")) == ["501 5.5.4"]


def test_size_without_value_is_rejected():
    assert summary(Server().send(b"MAIL FROM:<a@b.example> SIZE\r\n")) == ["501 5.5.4"]


def test_body_value_is_case_insensitive():
    assert summary(Server().send(b"MAIL FROM:<a@b.example> BODY=8bitmime\r\n")) == ["250 2.1.0"]


def test_quoted_local_part_with_angle_bracket_is_accepted():
    assert summary(Server().send(b'MAIL FROM:<"a>b"@example.org>\r\n')) == ["250 2.1.0"]


# --- before EHLO/HELO --------------------------------------------------------------------------------------

BEFORE_HELLO = [
    ("MAIL before HELO", M, ["503 5.5.1"]),
    ("RCPT before HELO", RC, ["503 5.5.1"]),
    ("DATA before HELO", b"DATA\r\n", ["503 5.5.1"]),
    ("NOOP works in any state", b"NOOP\r\n", ["250 2.0.0"]),
    ("RSET works in any state", b"RSET\r\n", ["250 2.0.0"]),
    ("VRFY works in any state", b"VRFY bob\r\n", ["252 2.0.0"]),
    ("HELP works in any state", b"HELP\r\n", ["214 2.0.0"]),
    ("QUIT", b"QUIT\r\n", ["221 2.0.0"]),
    ("EHLO then MAIL", b"EHLO c.example\r\n" + M, ["250", "250 2.1.0"]),
    ("HELO then a transaction", b"HELO c.example\r\n" + M + RC + MSG, ["250", "250 2.1.0", "250 2.1.5", "354",
                                                                        "250 2.0.0"]),
    ("MAIL parameters need EHLO: SIZE after HELO", b"HELO c.example\r\nMAIL FROM:<a@b.example> SIZE=10\r\n",
     ["250", "555 5.5.4"]),
    ("MAIL parameters need EHLO: BODY after HELO", b"HELO c.example\r\nMAIL FROM:<a@b.example> BODY=7BIT\r\n",
     ["250", "555 5.5.4"]),
    ("RCPT parameters after HELO", b"HELO c.example\r\n" + M + b"RCPT TO:<b@c.example> NOTIFY=NEVER\r\n",
     ["250", "250 2.1.0", "555 5.5.4"]),
    ("EHLO after HELO enables parameters", b"HELO c.example\r\nEHLO c.example\r\nMAIL FROM:<a@b.example> SIZE=10\r\n",
     ["250", "250", "250 2.1.0"]),
    ("HELO after EHLO disables parameters", b"EHLO c.example\r\nHELO c.example\r\nMAIL FROM:<a@b.example> SIZE=10\r\n",
     ["250", "250", "555 5.5.4"]),
    ("HELO with address literal", b"HELO [192.0.2.1]\r\n", ["250"]),
    ("HELO with a bad name", b"HELO not_a_host!\r\n", ["501 5.5.4"]),
]


@pytest.mark.parametrize("data, expected", [row[1:] for row in BEFORE_HELLO], ids=ids(BEFORE_HELLO))
def test_before_hello(data, expected):
    assert summary(Server(hello=None).send(data)) == expected


def test_require_helo_off_allows_mail_at_once():
    server = Server(ServerConfig(require_helo=False), hello=None)
    assert summary(server.send(M + RC + MSG)) == ["250 2.1.0", "250 2.1.5", "354", "250 2.0.0"]


# --- byte-exact replies ------------------------------------------------------------------------------------

EHLO_REPLY = (b"250-mx.example greets client.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
              b"250 ENHANCEDSTATUSCODES\r\n")


def test_greeting_is_220_without_enhanced_code():
    server = Server(ServerConfig(hostname="mx.example"), hello=None)
    assert server.greeting == b"220 mx.example ESMTP maillab\r\n"
    assert server.setup_events == [Greeted(R.ready("mx.example"))]
    assert server.conn.state is ServerState.CONNECTED


def test_ehlo_reply_is_multi_line_with_extensions():
    server = Server(ServerConfig(hostname="mx.example"))
    assert server.hello_reply == EHLO_REPLY
    assert server.conn.session.esmtp and server.conn.session.helo == "client.example"


@pytest.mark.parametrize(
    "config, keywords",
    [
        (ServerConfig(hostname="mx.example", pipelining=False), [b"SIZE 10240000", b"8BITMIME",
                                                                 b"ENHANCEDSTATUSCODES"]),
        (ServerConfig(hostname="mx.example", eightbitmime=False), [b"PIPELINING", b"SIZE 10240000",
                                                                   b"ENHANCEDSTATUSCODES"]),
        (ServerConfig(hostname="mx.example", max_message_size=0), [b"PIPELINING", b"SIZE 0", b"8BITMIME",
                                                                   b"ENHANCEDSTATUSCODES"]),
        (ServerConfig(hostname="mx.example", enhanced_status_codes=False), [b"PIPELINING", b"SIZE 10240000",
                                                                            b"8BITMIME"]),
    ],
    ids=["no pipelining", "no 8bitmime", "no size limit", "no enhanced codes"],
)
def test_ehlo_keywords_follow_the_config(config, keywords):
    lines = [line[4:-2] for line in lines_of(Server(config).hello_reply)]
    assert lines == [b"mx.example greets client.example", *keywords]
    assert [line[:4] for line in lines_of(Server(config).hello_reply)] == [b"250-"] * len(keywords) + [b"250 "]


EXACT = [
    ("HELO", b"HELO client.example\r\n", b"250 mx.example\r\n"),
    ("MAIL", M, b"250 2.1.0 Ok\r\n"),
    ("DATA", M + RC + b"DATA\r\n", b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"),
    ("HELP", b"HELP\r\n",
     b"214-2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP VRFY HELP QUIT\r\n214 2.0.0 See RFC 5321\r\n"),
    ("VRFY", b"VRFY bob\r\n", b"252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"),
    ("QUIT", b"QUIT\r\n", b"221 2.0.0 mx.example closing connection\r\n"),
    ("unknown", b"FOO\r\n", b"500 5.5.1 Error: command not recognized\r\n"),
]


@pytest.mark.parametrize("data, wire", [row[1:] for row in EXACT], ids=ids(EXACT))
def test_exact_replies(data, wire):
    assert Server(ServerConfig(hostname="mx.example")).send(data) == wire


EXACT_NO_ENHANCED = [
    ("MAIL", M, b"250 Ok\r\n"),
    ("HELP", b"HELP\r\n", b"214-Commands: EHLO HELO MAIL RCPT DATA RSET NOOP VRFY HELP QUIT\r\n214 See RFC 5321\r\n"),
    ("sequence error", RC, b"503 Error: need MAIL command\r\n"),
    ("QUIT", b"QUIT\r\n", b"221 mx.example closing connection\r\n"),
]


@pytest.mark.parametrize("data, wire", [row[1:] for row in EXACT_NO_ENHANCED], ids=ids(EXACT_NO_ENHANCED))
def test_exact_replies_without_enhanced_codes(data, wire):
    server = Server(ServerConfig(hostname="mx.example", enhanced_status_codes=False))
    assert server.send(data) == wire


SESSION = (M + RC + b"RCPT TO:<>\r\nVRFY x\r\nHELP\r\nNOOP\r\nFOO\r\nEXPN x\r\n" + MSG + b"DATA\r\nRSET x\r\n"
           + b"MAIL FROM:<a@b.example> SIZE=99999999999\r\nMAIL FROM:<a@b.example> X=1\r\nNOOP\n\x00\r\nQUIT\r\n")


def test_enhanced_codes_on_every_reply_but_greeting_ehlo_helo_and_354():
    """RFC 2034 §3 / RFC 3463 §2: a class digit equal to the reply's first digit, on every line."""
    server = Server()
    out = server.send(b"HELO x.example\r\nEHLO x.example\r\n" + SESSION)
    replies = replies_in(out)
    assert len(replies) == 19
    for reply in replies[2:]:
        code = reply[0][:3]
        for line in reply:
            if code == b"354":
                assert enhanced_of(line) is None
            else:
                assert enhanced_of(line) is not None and enhanced_of(line)[:1] == code[:1], line


def test_no_enhanced_codes_when_disabled():
    out = Server(ServerConfig(enhanced_status_codes=False)).send(SESSION)
    assert len(replies_in(out)) == 17
    assert all(enhanced_of(line) is None for line in lines_of(out))
    assert b"ENHANCEDSTATUSCODES" not in Server(ServerConfig(enhanced_status_codes=False)).hello_reply


# --- greetings ---------------------------------------------------------------------------------------------

class Refusing(DefaultPolicy):
    def __init__(self, greeting: Reply) -> None:
        super().__init__("mx.example")
        self.reply = greeting

    def greeting(self, session):
        return self.reply


NO_SERVICE = [
    ("EHLO", b"EHLO client.example\r\n"), ("HELO", b"HELO client.example\r\n"), ("MAIL", M), ("RCPT", RC),
    ("DATA", b"DATA\r\n"), ("RSET", b"RSET\r\n"), ("NOOP", b"NOOP\r\n"), ("VRFY", b"VRFY bob\r\n"),
    ("HELP", b"HELP\r\n"), ("null sender", b"MAIL FROM:<>\r\n"),
]


@pytest.mark.parametrize("data", [row[1] for row in NO_SERVICE], ids=ids(NO_SERVICE))
def test_554_greeting_then_503_to_everything_but_quit(data):
    """RFC 5321 §3.1: after 554 the server waits for QUIT and answers anything else with 503."""
    server = Server(policy=Refusing(R.no_service("mx.example")), hello=None)
    assert summary(server.greeting) == ["554 5.3.2"]
    assert server.conn.state is ServerState.NO_SERVICE
    assert summary(server.send(data)) == ["503 5.5.1"]
    assert summary(server.send(data + data)) == ["503 5.5.1", "503 5.5.1"]
    assert summary(server.send(b"QUIT\r\n")) == ["221 2.0.0"]
    assert server.closes == [Closed(R.closing("localhost"))]
    assert server.conn.closed


def test_554_greeting_then_503_even_to_malformed_commands():
    server = Server(policy=Refusing(R.no_service("mx.example")), hello=None)
    assert summary(server.send(b"EXPN staff\r\nEHLO\r\nMAIL FROM:<bad>\r\n")) == ["503 5.5.1"] * 3


def test_554_greeting_no_service_session_on_the_wire():
    server = Server(ServerConfig(hostname="mx.example"), policy=Refusing(R.no_service("mx.example")), hello=None)
    assert server.greeting == b"554 5.3.2 mx.example No SMTP service here\r\n"
    assert server.send(b"EHLO c.example\r\nQUIT\r\n") == (
        b"503 5.5.1 Error: no SMTP service here; only QUIT is accepted\r\n"
        b"221 2.0.0 mx.example closing connection\r\n")


def test_421_greeting_then_closed():
    reply = R.not_available("mx.example")
    server = Server(policy=Refusing(reply), hello=None)
    assert server.greeting == b"421 4.3.2 mx.example Service not available, closing transmission channel\r\n"
    assert server.setup_events == [Greeted(reply), Closed(reply)]
    assert server.conn.closed
    assert server.send(b"EHLO c.example\r\nQUIT\r\n") == b""
    assert server.events == []
    assert server.conn.next_event() is NEED_DATA


# --- QUIT and closing --------------------------------------------------------------------------------------

def test_quit_closes_with_221_and_an_event():
    server = Server()
    server.send(b"QUIT\r\nNOOP\r\n")
    assert [type(e) for e in server.events] == [Replied, Closed]
    assert server.events[-1] == Closed(R.closing("localhost"))
    assert server.conn.closed
    assert server.send(b"NOOP\r\n") == b""
    assert server.conn.next_event() is NEED_DATA


def test_peer_closing_between_commands():
    server = Server()
    server.conn.receive_data(b"NOOP\r\nNOO")
    server.conn.receive_data(b"")
    assert summary(server.pump()) == ["250 2.0.0"]  # complete lines still answered
    assert server.events[-1] == Closed(None)
    assert server.conn.closed


def test_connection_lost_mid_transaction_delivers_nothing():
    server = Server()
    server.send(M + RC)
    server.conn.connection_lost()
    assert server.pump() == b""
    assert server.events[-1] == Closed(None) and server.messages == []
    server.conn.connection_lost()  # idempotent
    assert server.pump() == b"" and server.events.count(Closed(None)) == 1


# --- limits ------------------------------------------------------------------------------------------------

def test_recipient_limit():
    """§4.5.3.1.10: too many recipients -> 452 4.5.3; the accepted ones still get the message."""
    server = Server(ServerConfig(max_recipients=3))
    rcpts = b"".join(f"RCPT TO:<r{i}@example.net>\r\n".encode() for i in range(5))
    assert summary(server.send(M + rcpts + MSG)) == (
        ["250 2.1.0"] + ["250 2.1.5"] * 3 + ["452 4.5.3"] * 2 + ["354", "250 2.0.0"])
    [message] = server.messages
    assert message.recipients == ("r0@example.net", "r1@example.net", "r2@example.net") and message.accepted


def test_recipient_limit_is_per_transaction():
    server = Server(ServerConfig(max_recipients=1))
    assert summary(server.send(M + RC + R2 + b"RSET\r\n" + M + R2)) == [
        "250 2.1.0", "250 2.1.5", "452 4.5.3", "250 2.0.0", "250 2.1.0", "250 2.1.5"]


def test_hard_error_limit_closes_with_421():
    """Postfix smtpd_hard_error_limit: the third error gets its reply, then 421 4.7.0 and the close."""
    server = Server(ServerConfig(hard_error_limit=3))
    out = server.send(b"FOO\r\nNOOP\r\nDATA\r\nBAR\r\nNOOP\r\nQUIT\r\n")
    assert summary(out) == ["500 5.5.1", "250 2.0.0", "503 5.5.1", "500 5.5.1", "421 4.7.0"]
    assert out.endswith(b"421 4.7.0 Error: too many errors\r\n")
    assert server.events[-1] == Closed(R.TOO_MANY_ERRORS)
    assert server.conn.closed
    assert server.send(b"NOOP\r\n") == b""


@pytest.mark.parametrize(
    "errors",
    [
        [b"MAIL FROM:<bad>\r\n", b"RCPT TO:<a@b.example>\r\n", b"EXPN x\r\n"],
        [b"NOOP\n", b"\x00\r\n", b"X" * 600 + b"\r\n"],
        [M + b"RCPT TO:<a@b.example> X=1\r\n", b"MAIL FROM:<a@b.example> SIZE=x\r\n", b"DATA x\r\n"],
    ],
    ids=["syntax and sequence", "line defects", "parameters"],
)
def test_every_error_reply_counts_toward_the_limit(errors):
    server = Server(ServerConfig(hard_error_limit=3))
    out = server.send(b"".join(errors))
    assert summary(out)[-1] == "421 4.7.0" and server.conn.closed


def test_hard_error_limit_of_one():
    server = Server(ServerConfig(hard_error_limit=1))
    assert summary(server.send(b"FOO\r\nNOOP\r\n")) == ["500 5.5.1", "421 4.7.0"]


# --- the 512-octet command line (§4.5.3.1.4) ---------------------------------------------------------------

def noop_line(octets: int, end: bytes = b"\r\n") -> bytes:
    line = b"NOOP " + b"x" * (octets - 5 - len(end)) + end
    assert len(line) == octets
    return line


@pytest.mark.parametrize("octets, expected", [(511, "250 2.0.0"), (512, "250 2.0.0"), (513, "500 5.5.2"),
                                              (514, "500 5.5.2"), (4096, "500 5.5.2")])
@pytest.mark.parametrize("split", ["whole", "byte by byte", "CR|LF", "just before the limit"])
def test_command_line_limit(octets, expected, split):
    line = noop_line(octets)
    pieces = {
        "whole": [line],
        "byte by byte": [line[i:i + 1] for i in range(len(line))],
        "CR|LF": [line[:-1], line[-1:]],
        "just before the limit": [line[:510], line[510:]],
    }[split]
    server = Server()
    out = server.send_in_pieces(pieces)
    assert summary(out) == [expected]
    assert summary(server.send(b"NOOP\r\n")) == ["250 2.0.0"]  # and the stream is back in step


def test_long_line_reply_event_and_exact_text():
    server = Server()
    assert server.send(noop_line(513)) == b"500 5.5.2 Error: line too long\r\n"
    [event] = server.events
    assert isinstance(event, Replied) and event.command is None and event.reply == R.LINE_TOO_LONG


def test_endless_line_does_not_grow_the_buffer_and_gets_one_reply():
    server = Server()
    for _ in range(200):  # 200 KB, no newline
        assert server.send(b"x" * 1024) == b""
        assert len(server.conn._inbox) <= 512 + 1024  # white-box: bounded by the limit plus one read
    out = server.send(b"yyy\r\nNOOP\r\n")
    assert summary(out) == ["500 5.5.2", "250 2.0.0"]


def test_long_line_is_not_a_command_even_if_its_tail_looks_like_one():
    server = Server()
    assert summary(server.send(b"x" * 600 + b" QUIT\r\n")) == ["500 5.5.2"]
    assert not server.conn.closed


def test_long_line_then_pipelined_commands_in_the_same_chunk():
    server = Server()
    assert summary(server.send(noop_line(1000) + M + RC)) == ["500 5.5.2", "250 2.1.0", "250 2.1.5"]


# --- bare LF -----------------------------------------------------------------------------------------------

def test_bare_lf_rejected_by_default():
    server = Server()
    assert server.send(b"NOOP\n") == b"500 5.5.2 Error: bare <LF> received; SMTP lines end with <CR><LF>\r\n"


def test_bare_lf_accepted_when_configured():
    server = Server(ServerConfig(bare_lf="accept"), hello=None)
    out = server.send(b"EHLO c.example\nMAIL FROM:<a@b.example>\n" + b"RCPT TO:<c@d.example>\r\nDATA\nhi\r\n.\r\n")
    assert summary(out) == ["250", "250 2.1.0", "250 2.1.5", "354", "250 2.0.0"]
    assert server.accepted_messages[0].content == b"hi\r\n"


def test_bare_lf_accept_still_counts_512_octets():
    server = Server(ServerConfig(bare_lf="accept"))
    assert summary(server.send(noop_line(512, b"\n") + noop_line(513, b"\n"))) == ["250 2.0.0", "500 5.5.2"]


def test_bare_lf_accept_still_rejects_nul_and_8bit():
    server = Server(ServerConfig(bare_lf="accept"))
    assert summary(server.send(b"NOOP \x00\xff\n")) == ["500 5.5.2"]


def test_bare_lf_accept_does_not_crash_on_8bit_size():
    server = Server(ServerConfig(bare_lf="accept"))
    assert summary(server.send(b"MAIL FROM:<a@b.example> SIZE=\xb2\n")) in (["500 5.5.2"], ["501 5.5.4"])


# --- pipelining (RFC 2920) ---------------------------------------------------------------------------------

def test_pipelined_group_gets_all_replies_in_order_in_one_flush():
    server = Server()
    group = b"RSET\r\n" + M + RC + b"RCPT TO:<nobody>\r\n" + R2 + b"DATA\r\n"
    server.conn.receive_data(group)
    events = []
    while (event := server.conn.next_event()) is not NEED_DATA:
        events.append(event)
    out = server.conn.data_to_send()
    assert summary(out) == ["250 2.0.0", "250 2.1.0", "250 2.1.5", "501 5.1.3", "250 2.1.5", "354"]
    assert [e.line for e in events] == [line.decode().rstrip("\r\n") for line in lines_of(group)]
    assert server.conn.data_to_send() == b""


def test_pipelined_whole_session_in_one_chunk():
    server = Server(hello=None)
    out = server.send(b"EHLO c.example\r\n" + M + RC + R2 + MSG + b"QUIT\r\n")
    assert summary(out) == ["250", "250 2.1.0", "250 2.1.5", "250 2.1.5", "354", "250 2.0.0", "221 2.0.0"]
    assert server.accepted_messages[0].recipients == ("bob@example.net", "carol@example.net")


def test_pipelined_content_after_rejected_data_is_read_as_commands():
    """RFC 2920 §3.1: when DATA fails, whatever the client sent after it is commands (and fails)."""
    server = Server()
    out = server.send(M + b"DATA\r\nhello\r\n.\r\n")
    assert summary(out) == ["250 2.1.0", "503 5.5.1", "500 5.5.1", "500 5.5.1"]
    assert server.messages == []


def test_next_event_processes_one_line_at_a_time():
    server = Server()
    server.conn.receive_data(b"NOOP\r\nNOOP\r\n")
    assert isinstance(server.conn.next_event(), Replied)
    assert server.conn.data_to_send() == b"250 2.0.0 Ok\r\n"
    assert isinstance(server.conn.next_event(), Replied)
    assert server.conn.next_event() is NEED_DATA
    assert server.conn.data_to_send() == b"250 2.0.0 Ok\r\n"


def test_replied_events_carry_line_command_and_reply():
    server = Server()
    server.send(M + b"RCPT TO:<>\r\n" + RC)
    assert server.events == [
        Replied("MAIL FROM:<alice@example.org>", Mail("alice@example.org"), R.SENDER_OK),
        Replied("RCPT TO:<>", None, R.BAD_ADDRESS),
        Replied("RCPT TO:<bob@example.net>", Rcpt("bob@example.net"), R.RECIPIENT_OK),
    ]


# --- misuse is a local error (h11: our own bugs crash) -----------------------------------------------------

def test_start_twice_is_a_local_error():
    server = ServerConnection()
    server.start()
    with pytest.raises(LocalProtocolError, match="server role"):
        server.start()


def test_receive_before_start_is_a_local_error():
    with pytest.raises(LocalProtocolError):
        ServerConnection().receive_data(b"EHLO x\r\n")


@pytest.mark.parametrize(
    "kwargs",
    [{"max_recipients": 0}, {"max_message_size": -1}, {"hard_error_limit": 0}, {"bare_lf": "maybe"}],
)
def test_bad_server_config(kwargs):
    with pytest.raises(ConfigError):
        ServerConfig(**kwargs)
