"""Message content helpers: the fast writer equals the email package, headers, hop counts."""

from __future__ import annotations

import random

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from maillab.mta import message as M
from maillab.mta.deadline import Deadline

ADDRESS = st.from_regex(r"[a-z]{1,12}@[a-z]{1,10}\.example", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(
    sender=st.one_of(st.just(""), ADDRESS),
    recipients=st.lists(ADDRESS, min_size=1, max_size=8).map(tuple),
    subject=st.text(min_size=0, max_size=90).filter(lambda s: len(s.splitlines()) <= 1 and not s.endswith(("\r", "\n"))),
    size=st.integers(min_value=0, max_value=5000),
    seed=st.integers(min_value=0, max_value=2**16),
    now=st.floats(min_value=0, max_value=1e7),
)
def test_message_bytes_equal_the_email_package_output(sender, recipients, subject, size, seed, now):
    body = M.BodyMaker(random.Random(seed)).body(size)
    fast = M.message_bytes("m1.s1@maillab", sender, recipients, subject, body, now)
    slow = M.to_bytes(M.make_message("m1.s1@maillab", sender, recipients, subject, body, now))
    assert fast == slow
    assert M.message_bytes("m1.s1@maillab", sender, recipients, subject, body, now, plain_body=True) == slow


def test_body_maker_is_seeded_and_sized():
    one, two = M.BodyMaker(random.Random(7)), M.BodyMaker(random.Random(7))
    assert one.body(3000) == two.body(3000)
    body = one.body(3000)
    assert 2900 <= len(body) <= 3000 and all(len(line) <= 72 for line in body.split("\r\n"))


def test_message_id_and_hop_count_read_the_header_block_only():
    content = (b"Received: from a\r\nReceived: from b\r\nMessage-ID: <x1@y>\r\n\r\n"
               b"Received: not a header\r\nMessage-ID: <fake@z>\r\n")
    assert M.message_id_of(content) == "x1@y"
    assert M.hop_count(content) == 2


def test_received_header_is_rfc5321_trace_form():
    header = M.received_header("client.example", "10.0.0.1", "mx.example", "MX000001", "bob@b.example", 3661.5)
    text = header.decode()
    assert text.startswith("Received: from client.example (10.0.0.1)\r\n\tby mx.example (maillab) with ESMTP id MX000001")
    assert "for <bob@b.example>;" in text and text.endswith("Mon, 05 Jan 2026 10:01:01 +0000\r\n")


@pytest.mark.parametrize("moves,expected", [
    ([(0, 10)], [10.0]),                 # plain expiry
    ([(0, 10), (5, 10)], [15.0]),        # moved later: the first timer re-arms for the rest
    ([(0, 10), (2, 3)], [5.0]),          # moved sooner: a new timer
    ([(0, 10), (4, None)], []),          # cancelled
])
def test_deadline_fires_once_at_the_last_armed_time(moves, expected):
    env = simpy.Environment()
    fired: list[float] = []
    deadline = Deadline(env, lambda: fired.append(env.now))

    def driver():
        for at, seconds in moves:
            yield env.timeout(at - env.now)
            deadline.cancel() if seconds is None else deadline.arm(seconds)

    env.process(driver())
    env.run(until=100)
    assert fired == expected


@settings(max_examples=300, deadline=None)
@given(now=st.floats(min_value=0, max_value=4e8) | st.integers(min_value=0, max_value=400_000_000))
def test_dates_equal_the_email_package_output(now):
    from datetime import timedelta
    from email.utils import format_datetime

    assert M.rfc5322_date(now) == format_datetime(M.EPOCH + timedelta(seconds=int(now)))


@settings(max_examples=200, deadline=None)
@given(body=st.lists(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=100)
                     | st.sampled_from(["\r", "\n", "a\rb", "x\ny"]), min_size=1, max_size=6)
       .map(lambda lines: "\r\n".join(lines) + "\r\n"))
def test_message_bytes_equal_the_email_package_output_for_any_ascii_body(body):
    fast = M.message_bytes("m1.s1@maillab", "a@b.example", ("c@d.example",), "Hello", body, 0)
    slow = M.to_bytes(M.make_message("m1.s1@maillab", "a@b.example", ("c@d.example",), "Hello", body, 0))
    assert fast == slow


_HEADER_LINE = st.sampled_from([
    b"Received: from a (b)\r\n\tby c; date\r\n", b"received:x\r\n", b"RECEIVED: y\r\n", b"X-Received: no\r\n",
    b"Message-ID: <m1@x>\r\n", b"message-id:   <m2@y>\r\n", b"Message-ID: broken\r\n", b"Subject: Received: no\r\n",
    b"\tReceived: a folded line, not a field\r\n", b"Message-Id:\t<m3@z>\r\n",
])


@settings(max_examples=300, deadline=None)
@given(head=st.lists(_HEADER_LINE, max_size=8), tail=st.lists(_HEADER_LINE, max_size=3))
def test_header_scans_equal_case_insensitive_regexes(head, tail):
    import re

    content = b"".join(head) + b"\r\n" + b"".join(tail) + b"body\r\n"
    block = M.headers_of(content)
    received = re.compile(rb"^Received:", re.IGNORECASE | re.MULTILINE)
    message_id = re.compile(rb"^Message-ID:[ \t]*<([^>\r\n]*)>", re.IGNORECASE | re.MULTILINE)
    assert M.hop_count(content) == len(received.findall(block))
    match = message_id.search(block)
    assert M.message_id_of(content) == (match.group(1).decode() if match else None)
