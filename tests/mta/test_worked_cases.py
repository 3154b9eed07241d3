"""REFERENCE §7: the worked cases the lab must reproduce exactly, each in a small world."""

from __future__ import annotations

import email.policy
from email import message_from_bytes

import pytest

from maillab.mta.behaviours import Greylisting
from tests.mta.scenarios import RECIPIENT, SENDER, starts, two_hosts

DAY = 86400.0


# --- case 1: round trips -------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 5])
def test_round_trips_without_pipelining_cost_7_plus_n(make_lab, n):
    r = 0.02
    lab = two_hosts(make_lab, latency=r / 2, receiver={"server_pipelining": False},
                    users=tuple(f"u{i}" for i in range(n)))
    lab.send(0, SENDER, [f"u{i}@b.example" for i in range(n)])
    lab.run()
    session = lab.sessions.iloc[0]
    assert session.end - session.start == pytest.approx((7 + n) * r, abs=1e-9)
    assert (lab.messages.status == "delivered").all()


@pytest.mark.parametrize("n", [1, 3, 10])
def test_round_trips_with_pipelining_cost_6_whatever_n(make_lab, n):
    r = 0.02
    lab = two_hosts(make_lab, latency=r / 2, users=tuple(f"u{i}" for i in range(n)))
    lab.send(0, SENDER, [f"u{i}@b.example" for i in range(n)])
    lab.run()
    session = lab.sessions.iloc[0]
    assert session.end - session.start == pytest.approx(6 * r, abs=1e-9)


def test_greeting_arrives_at_two_round_trips(make_lab):
    r = 0.02
    lab = two_hosts(make_lab, latency=r / 2)
    lab.send(0, SENDER, RECIPIENT)
    lab.run()
    greeting = lab.transcript.iloc[0]
    assert greeting.line.startswith("220 ")
    assert greeting.time + r / 2 == pytest.approx(2 * r)  # sent at 1.5 r, arrives at 2 r


def test_content_adds_size_over_bandwidth(make_lab):
    r, bandwidth = 0.02, 10_000.0
    fast = two_hosts(make_lab, latency=r / 2)
    slow = two_hosts(make_lab, latency=r / 2, bandwidth=bandwidth)
    for lab in (fast, slow):
        lab.send(0, SENDER, RECIPIENT, size=20_000)
        lab.run()
    content = [line for line in slow.transcript.line if line.startswith("<message content")][0]
    octets = int(content.split(",")[1].split()[0])
    extra = slow.sessions.iloc[0].end - fast.sessions.iloc[0].end
    # every write crosses the bottleneck: the content dominates; commands and replies add a little
    assert extra == pytest.approx(octets / bandwidth, rel=0.05)
    assert extra > octets / bandwidth


# --- cases 2-4: Postfix -------------------------------------------------------------------------------------

def test_postfix_refused_until_7500_delivers_at_9000(make_lab):
    lab = two_hosts(make_lab)
    lab.fail("mx.b.example", "refuse", start=0, end=7500)
    lab.send(0, SENDER, RECIPIENT)
    lab.run(until=DAY)
    assert starts(lab) == [0, 300, 600, 1200, 2400, 4800, 9000]
    row = lab.messages.iloc[0]
    assert row.status == "delivered" and 9000 < row.delivered < 9000.1
    assert row.attempts == 7


def test_postfix_silent_host_delivers_at_11100(make_lab):
    lab = two_hosts(make_lab)
    lab.fail("mx.b.example", "down", start=0, end=7500)
    lab.send(0, SENDER, RECIPIENT)
    lab.run(until=DAY)
    assert starts(lab) == [0, 600, 1500, 3300, 6900, 11100]
    attempts = lab.attempts
    assert (attempts.outcome[:-1] == "timeout").all()
    assert list(attempts.end[:-1] - attempts.start[:-1]) == pytest.approx([30.0] * 5)
    assert 11100 < lab.messages.iloc[0].delivered < 11100.1


def test_postfix_permanent_outage_bounces_after_108_attempts(make_lab):
    lab = two_hosts(make_lab)
    lab.fail("mx.b.example", "refuse", start=0)
    lab.send(0, SENDER, RECIPIENT)
    lab.run(until=6 * DAY)
    times = starts(lab)
    assert len(times) == 108
    assert times[:6] == [0, 300, 600, 1200, 2400, 4800]
    assert {b - a for a, b in zip(times[5:], times[6:])} == {4200}
    row = lab.messages.iloc[0]
    assert row.status == "bounced" and 433200 < row.bounced < 433200.1 and row.bounce_status == "4.4.1"
    dsn = message_from_bytes(lab.mailbox(SENDER)[0], policy=email.policy.default)
    assert dsn.get_content_type() == "multipart/report"
    report = dsn.get_payload()[1].as_string()
    assert "Action: failed" in report and "Status: 4.4.1" in report


# --- cases 5-6: Exim ----------------------------------------------------------------------------------------

def test_exim_down_until_7500_delivers_at_8100(make_lab):
    lab = two_hosts(make_lab, sender={"retry": "exim", "error_class": "exim"})
    lab.fail("mx.b.example", "refuse", start=0, end=7500)
    lab.send(0, SENDER, RECIPIENT)
    lab.run(until=DAY)
    assert starts(lab) == [900.0 * k for k in range(10)]
    assert 8100 < lab.messages.iloc[0].delivered < 8100.1


def test_exim_permanent_outage_bounces_after_29_attempts(make_lab):
    lab = two_hosts(make_lab, sender={"retry": "exim", "error_class": "exim"})
    lab.fail("mx.b.example", "refuse", start=0)
    lab.send(0, SENDER, RECIPIENT)
    lab.run(until=6 * DAY)
    times = starts(lab)
    expected = [900.0 * k for k in range(10)] + [11700, 17100, 25200, 37350, 55575, 82912]
    expected += [82912 + 21600.0 * k for k in range(1, 14)]
    assert times == expected and len(times) == 29
    assert 363712 < lab.messages.iloc[0].bounced < 363712.1


# --- case 7: greylisting ------------------------------------------------------------------------------------

def test_greylisting_costs_one_postfix_scan(make_lab):
    lab = two_hosts(make_lab, behaviours=(Greylisting(),))
    lab.send(0, SENDER, RECIPIENT)
    lab.run(until=DAY)
    first = lab.attempts.iloc[0]
    assert (first.code, first.enhanced) == (450, "4.2.0")
    assert starts(lab) == [0, 300]
    assert 300 < lab.messages.iloc[0].delivered < 300.1


# --- case 8: the lost 250 (RFC 1047) ------------------------------------------------------------------------

def test_lost_reply_after_final_dot_delivers_twice(make_lab):
    r = 0.02
    lab = two_hosts(make_lab, latency=r / 2)
    # pipelined: content leaves at 4 r, reaches the server at 4.5 r; its 250 would arrive at 5 r
    lab.fail(("out.a.example", "mx.b.example"), "link", start=4.75 * r, end=10.0)
    lab.send(0, SENDER, RECIPIENT)
    lab.run(until=DAY)
    row = lab.messages.iloc[0]
    assert row.duplicates == 1 and len(lab.mailbox(RECIPIENT)) == 2
    attempts = lab.attempts
    first, second = attempts.iloc[0], attempts.iloc[1]
    assert first.duplicate_risk and (first.code, first.enhanced) == (451, "4.4.2")
    assert second.start == 300 and second.made_duplicate and not first.made_duplicate


# --- case 9: dead destination -------------------------------------------------------------------------------

def test_dead_destination_is_suspended_after_three_refusals(make_lab):
    lab = two_hosts(make_lab)
    lab.fail("mx.b.example", "refuse", start=0)
    for _ in range(5):
        lab.send(0, SENDER, RECIPIENT)
    lab.run(until=1)
    first_round = lab.attempts
    assert list(first_round.outcome) == ["refused"] * 3 + ["suspended"] * 2
    assert first_round[first_round.outcome == "suspended"].mx.isna().all()
    third_failure = first_round.end.iloc[2]
    policy = lab.mtas["out.a.example"].policy
    assert policy.suspended_until(now=lab.now, destination="b.example") == pytest.approx(third_failure + 300)
    assert policy.suspended_until(now=third_failure + 300.001, destination="b.example") is None
