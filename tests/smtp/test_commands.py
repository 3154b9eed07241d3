"""Commands as values: parsing a command line and writing one (RFC 5321 §4.1.1, §4.1.2, §4.5.3.1)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maillab.smtp import (
    Data,
    Ehlo,
    Helo,
    Help,
    Mail,
    Noop,
    Quit,
    Rcpt,
    Rset,
    Vrfy,
    command_line,
    is_mailbox,
    parse_command,
)
from maillab.smtp import replies as R
from maillab.smtp.replies import Reply

from .helpers import FUZZ

LOCAL_64 = "l" * 64
DOMAIN_189 = "a" * 63 + "." + "b" * 63 + "." + "c" * 61  # 254 - 64 - 1: path of 256 octets with its <>

PARSE = [
    ("EHLO", "EHLO client.example", Ehlo("client.example")),
    ("EHLO address literal", "EHLO [192.0.2.1]", Ehlo("[192.0.2.1]")),
    ("EHLO IPv6 literal", "EHLO [IPv6:2001:db8::1]", Ehlo("[IPv6:2001:db8::1]")),
    ("HELO", "HELO client.example", Helo("client.example")),
    ("lower-case verb", "ehlo client.example", Ehlo("client.example")),
    ("MAIL", "MAIL FROM:<alice@example.org>", Mail("alice@example.org")),
    ("mail lower-case", "mail from:<alice@example.org>", Mail("alice@example.org")),
    ("null sender", "MAIL FROM:<>", Mail("")),
    ("MAIL params upper-cased keys", "MAIL FROM:<a@b.example> size=10 BODY=8BITMIME",
     Mail("a@b.example", (("SIZE", "10"), ("BODY", "8BITMIME")))),
    ("MAIL keyword param without value", "MAIL FROM:<a@b.example> SMTPUTF8",
     Mail("a@b.example", (("SMTPUTF8", None),))),
    ("source route is dropped", "MAIL FROM:<@relay.example,@hop.example:a@b.example>", Mail("a@b.example")),
    ("quoted local part", 'MAIL FROM:<"alice smith"@example.org>', Mail('"alice smith"@example.org')),
    ("RCPT", "RCPT TO:<bob@example.net>", Rcpt("bob@example.net")),
    ("RCPT address literal", "RCPT TO:<bob@[192.0.2.1]>", Rcpt("bob@[192.0.2.1]")),
    ("RCPT postmaster (RFC 5321 §4.5.1)", "RCPT TO:<postmaster>", Rcpt("postmaster")),
    ("RCPT Postmaster any case", "RCPT TO:<PostMaster>", Rcpt("PostMaster")),
    ("longest local part", f"RCPT TO:<{LOCAL_64}@example.net>", Rcpt(f"{LOCAL_64}@example.net")),
    ("longest path", f"RCPT TO:<{LOCAL_64}@{DOMAIN_189}>", Rcpt(f"{LOCAL_64}@{DOMAIN_189}")),
    ("DATA", "DATA", Data()),
    ("RSET", "RSET", Rset()),
    ("QUIT", "QUIT", Quit()),
    ("NOOP", "NOOP", Noop()),
    ("NOOP with text", "NOOP hello", Noop("hello")),
    ("VRFY", "VRFY bob", Vrfy("bob")),
    ("HELP", "HELP", Help()),
    ("HELP topic", "HELP MAIL", Help("MAIL")),
    # rejections
    ("unknown verb", "FOO", R.UNRECOGNIZED),
    ("empty line", "", R.UNRECOGNIZED),
    ("EXPN", "EXPN staff", R.NOT_IMPLEMENTED),
    ("TURN", "TURN", R.NOT_IMPLEMENTED),
    ("ETRN", "ETRN example.org", R.NOT_IMPLEMENTED),
    ("EHLO without name", "EHLO", R.SYNTAX_EHLO),
    ("EHLO with two names", "EHLO a.example b.example", R.SYNTAX_EHLO),
    ("HELO without name", "HELO", R.SYNTAX_HELO),
    ("DATA with argument", "DATA now", R.NO_ARGUMENTS),
    ("RSET with argument", "RSET all", R.NO_ARGUMENTS),
    ("QUIT with argument", "QUIT now", R.NO_ARGUMENTS),
    ("VRFY without argument", "VRFY", R.SYNTAX_VRFY),
    ("MAIL without FROM:", "MAIL <a@b.example>", R.SYNTAX_MAIL),
    ("MAIL TO:", "MAIL TO:<a@b.example>", R.SYNTAX_MAIL),
    ("RCPT without TO:", "RCPT <a@b.example>", R.SYNTAX_RCPT),
    ("RCPT FROM:", "RCPT FROM:<a@b.example>", R.SYNTAX_RCPT),
    ("RCPT null path", "RCPT TO:<>", R.BAD_ADDRESS),
    ("no @", "MAIL FROM:<alice>", R.BAD_ADDRESS),
    ("empty local part", "MAIL FROM:<@example.org>", R.BAD_ADDRESS),
    ("empty domain", "MAIL FROM:<alice@>", R.BAD_ADDRESS),
    ("space in local part", "MAIL FROM:<al ice@example.org>", R.BAD_ADDRESS),
    ("double dot in domain", "MAIL FROM:<alice@example..org>", R.BAD_ADDRESS),
    ("hyphen starts a label", "MAIL FROM:<alice@-example.org>", R.BAD_ADDRESS),
    ("dot starts local part", "MAIL FROM:<.alice@example.org>", R.BAD_ADDRESS),
    ("missing >", "MAIL FROM:<alice@example.org", R.BAD_ADDRESS),
    ("junk after >", "MAIL FROM:<alice@example.org>junk", R.BAD_ADDRESS),
    ("local part of 65", f"RCPT TO:<{LOCAL_64}x@example.net>", R.BAD_ADDRESS),
    ("path of 257 octets", f"RCPT TO:<{LOCAL_64}@{DOMAIN_189}c>", R.PATH_TOO_LONG),
    ("parameter with empty value", "MAIL FROM:<a@b.example> SIZE=", R.UNSUPPORTED_PARAMETER),
    ("parameter keyword syntax", "MAIL FROM:<a@b.example> -X=1", R.UNSUPPORTED_PARAMETER),
]


@pytest.mark.parametrize("line, expected", [p[1:] for p in PARSE], ids=[p[0] for p in PARSE])
def test_parse_command(line, expected):
    assert parse_command(line) == expected


def test_mail_from_without_any_path_is_a_syntax_error():
    result = parse_command("MAIL FROM:")
    assert isinstance(result, Reply) and result.code == 501, result


def test_quoted_local_part_may_contain_angle_bracket():
    assert parse_command('MAIL FROM:<"a>b"@example.org>') == Mail('"a>b"@example.org')


WRITE = [
    (Ehlo("client.example"), b"EHLO client.example\r\n"),
    (Helo("client.example"), b"HELO client.example\r\n"),
    (Mail("alice@example.org"), b"MAIL FROM:<alice@example.org>\r\n"),
    (Mail(""), b"MAIL FROM:<>\r\n"),
    (Mail("a@b.example", (("SIZE", "10"), ("BODY", "8BITMIME"))), b"MAIL FROM:<a@b.example> SIZE=10 BODY=8BITMIME\r\n"),
    (Mail("a@b.example", (("SMTPUTF8", None),)), b"MAIL FROM:<a@b.example> SMTPUTF8\r\n"),
    (Rcpt("bob@example.net"), b"RCPT TO:<bob@example.net>\r\n"),
    (Data(), b"DATA\r\n"),
    (Rset(), b"RSET\r\n"),
    (Noop(), b"NOOP\r\n"),
    (Noop("x"), b"NOOP x\r\n"),
    (Vrfy("bob"), b"VRFY bob\r\n"),
    (Help(), b"HELP\r\n"),
    (Help("MAIL"), b"HELP MAIL\r\n"),
    (Quit(), b"QUIT\r\n"),
]


@pytest.mark.parametrize("command, wire", WRITE, ids=[w[1].decode().strip() for w in WRITE])
def test_command_line(command, wire):
    assert command_line(command) == wire
    assert parse_command(wire[:-2].decode()) == command  # and the server reads back what the client wrote


@pytest.mark.parametrize(
    "address, ok",
    [
        ("alice@example.org", True), ("a.b-c+d@sub.example.org", True), ('"a b"@example.org', True),
        ("alice@[192.0.2.1]", True), ("alice@example.org.", True), ("x@y", True),
        ("alice", False), ("@example.org", False), ("alice@", False), ("a..b@example.org", False),
        ("alice@exa mple.org", False), (f"{LOCAL_64}x@example.org", False), ("a@" + "b" * 256, False),
    ],
)
def test_is_mailbox(address, ok):
    assert is_mailbox(address) is ok


ATOM = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{|}~-"), min_size=1, max_size=10)
LABEL = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?\Z")
MAILBOX = st.builds(
    lambda local, domain: f"{'.'.join(local)}@{'.'.join(domain)}",
    st.lists(ATOM, min_size=1, max_size=3),
    st.lists(LABEL, min_size=1, max_size=4),
)


@FUZZ
@given(sender=st.one_of(st.just(""), MAILBOX), recipient=MAILBOX, size=st.integers(0, 10**20 - 1))
def test_written_commands_parse_back(sender, recipient, size):
    mail = Mail(sender, (("SIZE", str(size)),))
    rcpt = Rcpt(recipient)
    assert is_mailbox(recipient)
    for command in (mail, rcpt):
        line = command_line(command)
        assert line.endswith(b"\r\n") and len(line) <= 512
        assert parse_command(line[:-2].decode()) == command


@FUZZ
@given(st.text(max_size=600))
def test_parse_command_never_raises(line):
    parse_command(line)
