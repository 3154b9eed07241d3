"""Dot-stuffing both ways and CRLF normalisation (RFC 5321 §4.5.2, §2.3.8)."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maillab.smtp import stuff, unstuff

from .helpers import FUZZ

STUFF = [
    ("empty", b"", b""),
    ("one line", b"hello\r\n", b"hello\r\n"),
    ("final CRLF added", b"hello", b"hello\r\n"),
    ("leading dot on first line", b".hidden\r\n", b"..hidden\r\n"),
    ("line of one dot", b"a\r\n.\r\nb\r\n", b"a\r\n..\r\nb\r\n"),
    ("line of two dots", b"..\r\n", b"...\r\n"),
    ("dot mid-line untouched", b"a.b\r\n", b"a.b\r\n"),
    ("every line", b".a\r\n.b\r\n.c", b"..a\r\n..b\r\n..c\r\n"),
    ("bare LF normalised", b"a\nb\n", b"a\r\nb\r\n"),
    ("mixed line ends", b"a\r\nb\nc", b"a\r\nb\r\nc\r\n"),
    ("bare LF then dot", b"a\n.\n", b"a\r\n..\r\n"),
    ("lone dot", b".", b"..\r\n"),
    ("blank lines kept", b"\r\n\r\n", b"\r\n\r\n"),
]


@pytest.mark.parametrize("content, wire", [s[1:] for s in STUFF], ids=[s[0] for s in STUFF])
def test_stuff(content, wire):
    assert stuff(content) == wire


UNSTUFF = [
    ("nothing to do", b"a\r\nb\r\n", b"a\r\nb\r\n"),
    ("first line", b"..a\r\n", b".a\r\n"),
    ("line of two dots becomes one", b"x\r\n..\r\ny\r\n", b"x\r\n.\r\ny\r\n"),
    ("only one dot removed", b"...\r\n", b"..\r\n"),
    ("dot after bare LF is not at a line start", b"a\n.b\r\n", b"a\n.b\r\n"),
    ("empty", b"", b""),
]


@pytest.mark.parametrize("wire, content", [u[1:] for u in UNSTUFF], ids=[u[0] for u in UNSTUFF])
def test_unstuff(wire, content):
    assert unstuff(wire) == content


def normalised(content: bytes) -> bytes:
    """What the receiver should end up with: every line end CRLF, and a final CRLF (independent model)."""
    content = re.sub(rb"\r?\n", b"\r\n", content)
    return content if not content or content.endswith(b"\r\n") else content + b"\r\n"


@FUZZ
@given(st.binary(max_size=300) | st.lists(st.sampled_from([b".", b"..", b"a", b"\r\n", b"\n", b"\r", b" "]),
                                          max_size=40).map(b"".join))
def test_stuff_then_unstuff_round_trips(content):
    wire = stuff(content)
    assert b"\r\n.\r\n" not in b"\r\n" + wire  # the content can never end the data early
    assert not re.search(rb"(?<!\r)\n", wire)  # no bare LF leaves the client
    assert unstuff(wire) == normalised(content)
