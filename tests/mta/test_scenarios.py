"""Scenario tests beyond the worked cases: MX fallback, relaying, bounces, loops, crashes, determinism."""

from __future__ import annotations

import email.policy
from email import message_from_bytes

import pandas as pd
import pytest

from maillab.errors import ConfigError
from maillab.mta.behaviours import NotWilling, Quota
from tests.mta.scenarios import RECIPIENT, SENDER, two_hosts

DAY = 86400.0


def backup_mx_world(make_lab, **lab):
    world = make_lab(**lab)
    for host in ("out.a.example", "mx1.b.example", "mx2.b.example"):
        world.add_host(host)
    world.add_router("core")
    for host in ("out.a.example", "mx1.b.example", "mx2.b.example"):
        world.add_link(host, "core", latency=0.005)
    world.add_domain("a.example", mx="out.a.example", users=["alice"])
    world.add_domain("b.example", mx={"mx1.b.example": 10, "mx2.b.example": 20}, users=["bob"])
    return world


def test_backup_mx_queues_while_primary_is_down_and_forwards_later(make_lab):
    lab = backup_mx_world(make_lab)
    lab.fail("mx1.b.example", "refuse", start=0, end=2000)
    lab.send(0, SENDER, RECIPIENT)
    lab.run(until=DAY)
    attempts = lab.attempts
    sender_rows = attempts[attempts.host == "out.a.example"]
    assert list(sender_rows.mx) == ["mx1.b.example", "mx2.b.example"]  # refused, then the backup accepts
    assert list(sender_rows.outcome) == ["refused", "delivered"]
    backup_rows = attempts[attempts.host == "mx2.b.example"]
    assert set(backup_rows.mx) == {"mx1.b.example"}  # the backup never tries itself (RFC 5321 §5.1)
    row = lab.messages.iloc[0]
    assert row.status == "delivered" and 2000 < row.delivered < 2400.1
    stored = lab.mailbox(RECIPIENT)[0]
    assert stored.count(b"\nReceived: ") + stored.startswith(b"Received: ") >= 2
    assert b"by mx2.b.example" in stored and b"by mx1.b.example" in stored


def test_unknown_user_bounces_with_dsn_carrying_the_first_part_of_the_message(make_lab):
    lab = two_hosts(make_lab)
    lab.send(0, SENDER, "nobody@b.example", size=120_000, subject="hello there")
    lab.run(until=DAY)
    row = lab.messages.iloc[0]
    assert row.status == "bounced" and row.bounce_status == "5.1.1"
    dsns = lab.mailbox(SENDER)
    assert len(dsns) == 1
    dsn = message_from_bytes(dsns[0], policy=email.policy.default)
    assert dsn["Return-Path"] == "<>"  # sent with the null sender
    assert dsn.get_content_type() == "multipart/report" and dsn.get_param("report-type") == "delivery-status"
    human, status, returned = dsn.get_payload()
    assert human.get_content_type() == "text/plain" and "nobody@b.example" in human.get_content()
    assert status.get_content_type() == "message/delivery-status"
    per_message, per_recipient = status.get_payload()
    assert per_message["Reporting-MTA"] == "dns; out.a.example" and per_message["Arrival-Date"]
    assert per_recipient["Final-Recipient"] == "rfc822; nobody@b.example"
    assert (per_recipient["Action"], per_recipient["Status"]) == ("failed", "5.1.1")
    assert per_recipient["Remote-MTA"] == "dns; mx.b.example"
    assert per_recipient["Diagnostic-Code"].startswith("smtp; 550 5.1.1 ")
    assert per_recipient["Last-Attempt-Date"]
    assert returned.get_content_type() == "message/rfc822"
    inner = returned.get_payload()[0]
    assert inner["Subject"] == "hello there"
    assert 40_000 < len(dsns[0]) < 60_000  # the first 50 000 octets of a 120 kB message, not all of it


def test_a_bounce_is_never_bounced(make_lab):
    lab = two_hosts(make_lab)
    lab.send(0, "ghost@b.example", "nobody@b.example", via="out.a.example")
    lab.run(until=DAY)
    bounced = lab.recorder.bounced
    assert len(bounced) == 2  # the message, then its DSN to ghost@b.example, which is discarded
    assert bounced[0].dsn_sent and not bounced[1].dsn_sent


def test_relay_denied_for_strangers(make_lab):
    lab = two_hosts(make_lab, sender={"relayhost": "mx.b.example"})
    lab.add_domain("c.example", mx="mx.b.example")  # mx.b.example is not final for c.example's users
    lab.send(0, SENDER, "carol@elsewhere.example", via="out.a.example")
    lab.run(until=DAY)
    attempt = lab.attempts.iloc[0]
    assert (attempt.code, attempt.enhanced) == (554, "5.7.1")
    assert lab.messages.iloc[0].status == "bounced"


def test_relay_chain_adds_a_received_header_per_hop(make_lab):
    lab = make_lab()
    chain = ["pc.a.example", "submit.a.example", "relay.a.example", "mx.b.example"]
    for i, host in enumerate(chain):
        nexthop = {"relayhost": chain[i + 1]} if 0 < i < 2 else {}
        lab.add_host(host, relay_clients=("10.0.0.0/16",), **nexthop)
    for a, b in zip(chain, chain[1:]):
        lab.add_link(a, b, latency=0.002)
    lab.add_domain("a.example", mx="submit.a.example", users=["alice"])
    lab.add_domain("b.example", mx="mx.b.example", users=["bob"])
    lab.send(0, SENDER, RECIPIENT, via="submit.a.example")
    lab.run(until=DAY)
    stored = message_from_bytes(lab.mailbox(RECIPIENT)[0], policy=email.policy.default)
    received = stored.get_all("Received")
    assert [h.split("by ")[1].split()[0] for h in received] == ["mx.b.example", "relay.a.example", "submit.a.example"]
    assert stored["Return-Path"] == f"<{SENDER}>"
    assert lab.messages.iloc[0].hops == 3


def test_loop_is_detected_by_counting_received_headers(make_lab):
    lab = make_lab()
    lab.add_host("x.example", relayhost="y.example", relay_clients=("10.0.0.0/16",), hopcount_limit=10)
    lab.add_host("y.example", relayhost="x.example", relay_clients=("10.0.0.0/16",), hopcount_limit=10)
    lab.add_link("x.example", "y.example", latency=0.001)
    lab.add_domain("a.example", mx="x.example", users=["alice"])
    lab.send(0, SENDER, "bob@nowhere.example", via="x.example")
    lab.run(until=DAY)
    refusal = lab.attempts[lab.attempts.code == 554]
    assert len(refusal) == 1 and refusal.iloc[0].enhanced == "5.4.0"
    assert lab.messages.iloc[0].status == "bounced" and lab.messages.iloc[0].bounce_status == "5.4.0"
    original = lab.attempts[lab.attempts.message_id == lab.messages.message_id.iloc[0]]
    assert len(original) == 10  # one hop per Received header until the limit
    assert list(original.host[:2]) == ["x.example", "y.example"]


def test_nxdomain_bounces_and_dns_outage_defers(make_lab):
    lab = two_hosts(make_lab)
    lab.fail("*", "dns", start=0, end=100)
    lab.send(0, SENDER, "who@no-such-domain.example")
    lab.send(0, SENDER, RECIPIENT)
    lab.run(until=DAY)
    first = lab.attempts.groupby("message_id").first()
    assert set(first.outcome) == {"dns"} and set(first.enhanced) == {"4.4.3"}
    rows = lab.messages.set_index("recipient")
    assert rows.loc["who@no-such-domain.example"].bounce_status == "5.1.2"
    assert 300 < rows.loc[RECIPIENT].delivered < 300.1


def test_connection_is_reused_for_messages_to_one_destination(make_lab):
    lab = two_hosts(make_lab)
    for t in (0, 0, 0):
        lab.send(t, SENDER, RECIPIENT)
    lab.run(until=DAY)
    assert lab.sessions.transactions.tolist() == [3]
    assert len(lab.mailbox(RECIPIENT)) == 3


def test_quota_and_not_willing_behaviours(make_lab):
    quota = Quota(limit=5000)
    lab = two_hosts(make_lab, behaviours=(quota, NotWilling(((0, 1000),), code=421)))
    lab.build()
    quota.usage = lab.mtas["mx.b.example"].mailboxes.usage
    lab.send(0, SENDER, RECIPIENT, size=1000)
    lab.send(1500, SENDER, RECIPIENT, size=1000)
    lab.send(1600, SENDER, RECIPIENT, size=3000)
    lab.run(until=DAY)
    first = lab.attempts.iloc[0]
    assert (first.code, first.enhanced) == (421, "4.3.2")  # not willing at t=0
    statuses = lab.messages.status.tolist()
    assert statuses[:2] == ["delivered", "delivered"] and statuses[2] == "bounced"
    assert lab.messages.bounce_status.iloc[2] == "5.2.2"


@pytest.mark.parametrize("spool", ["durable", "volatile"])
def test_crash_keeps_a_durable_spool_and_loses_a_volatile_one(make_lab, spool):
    lab = make_lab()
    lab.add_host("out.a.example", relayhost="relay.a.example")
    lab.add_host("relay.a.example", relay_clients=("10.0.0.0/16",), spool=spool)
    lab.add_host("mx.b.example")
    lab.add_link("out.a.example", "relay.a.example", latency=0.005)
    lab.add_link("relay.a.example", "mx.b.example", latency=0.005)
    lab.add_domain("a.example", mx="out.a.example", users=["alice"])
    lab.add_domain("b.example", mx="mx.b.example", users=["bob"])
    lab.fail("mx.b.example", "refuse", start=0, end=3000)  # the relay has to queue the message
    lab.fail("relay.a.example", "crash", start=100, end=200)
    lab.send(0, SENDER, RECIPIENT)
    lab.run(until=DAY)
    row = lab.messages.iloc[0]
    if spool == "durable":
        assert row.status == "delivered" and 4800 < row.delivered < 4800.1  # the retry schedule survives the crash
    else:
        assert row.status == "lost" and row.lost == 100
        assert lab.recorder.lost[0].host == "relay.a.example"
        assert lab.mailbox(RECIPIENT) == []
    during = lab.attempts[(lab.attempts.host == "relay.a.example") & (lab.attempts.start.between(100, 200))]
    assert during.empty  # a crashed host makes no attempts


def test_crash_mid_session_resets_and_nothing_is_half_delivered(make_lab):
    r = 0.02
    lab = two_hosts(make_lab, latency=r / 2)
    lab.fail("mx.b.example", "crash", start=3.5 * r, end=50)  # during MAIL/RCPT/DATA
    lab.send(0, SENDER, RECIPIENT)
    lab.run(until=DAY)
    first = lab.attempts.iloc[0]
    assert (first.code, first.enhanced) == (451, "4.4.2") and not first.duplicate_risk
    assert lab.messages.iloc[0].status == "delivered" and len(lab.mailbox(RECIPIENT)) == 1


def test_same_seed_gives_identical_tables(make_lab):
    def run(seed):
        lab = backup_mx_world(make_lab, seed=seed)
        lab.fail("mx1.b.example", "down", start=0, end=1000)
        for i in range(20):
            lab.send(i * 7.0, SENDER, RECIPIENT, size=500 + 100 * i)
        return lab.run(until=DAY)

    a, b = run(3), run(3)
    for table in ("messages", "attempts", "transcript", "queue", "connections", "sessions"):
        pd.testing.assert_frame_equal(getattr(a, table), getattr(b, table))


def test_equal_preference_mx_order_is_seeded_random(make_lab):
    def first_mx(seed):
        lab = make_lab(seed=seed)
        for host in ("out.a.example", "mx1.b.example", "mx2.b.example"):
            lab.add_host(host)
            if host != "out.a.example":
                lab.add_link("out.a.example", host, latency=0.005)
        lab.add_domain("a.example", mx="out.a.example", users=["alice"])
        lab.add_domain("b.example", mx={"mx1.b.example": 10, "mx2.b.example": 10}, accept_any_user=True)
        lab.send(0, SENDER, RECIPIENT)
        lab.run(until=DAY)
        return lab.attempts.mx.iloc[0]

    choices = {first_mx(seed) for seed in range(12)}
    assert choices == {"mx1.b.example", "mx2.b.example"}
    assert first_mx(5) == first_mx(5)


def test_bad_declarations_raise_config_errors(make_lab):
    lab = make_lab()
    with pytest.raises(ConfigError, match="unknown MTA setting"):
        lab.add_host("h", retyr="postfix")
    with pytest.raises(ConfigError, match="failure kind"):
        lab.fail("h", "explode", start=0)
    with pytest.raises(ConfigError, match="start < end"):
        lab.fail("h", "down", start=10, end=5)
    with pytest.raises(ConfigError, match="recipients"):
        lab.send(0, SENDER, ["not an address"])
    lab.add_host("h")
    lab.add_domain("x.example", mx="ghost")
    with pytest.raises(ConfigError, match="MX host 'ghost'"):
        lab.run()


@pytest.mark.parametrize("spool", ["durable", "volatile"])
def test_sender_crash_mid_attempt_records_the_attempt_lost_and_keeps_or_loses_the_mail(make_lab, spool):
    """The sending host crashes while its slots are transferring (it used to stop the whole run)."""
    lab = two_hosts(make_lab, bandwidth=10_000, sender={"spool": spool})
    for k in range(3):
        lab.send(k * 0.01, SENDER, RECIPIENT, size=20_000)  # 2 s each at 10 kB/s
    lab.fail("out.a.example", "crash", start=0.5, end=100)
    lab.run(until=DAY)
    lost = lab.attempts[lab.attempts.outcome == "lost"]
    assert len(lost) >= 1 and (lost.end == 0.5).all() and lost.code.isna().all()
    if spool == "durable":
        assert (lab.messages.status == "delivered").all() and (lab.messages.delivered > 100).all()
    else:
        assert (lab.messages.status == "lost").all() and len(lab.recorder.lost) == 3
        assert lab.mailbox(RECIPIENT) == []


@pytest.mark.parametrize(("first", "second"), [
    (("mx.b.example", "refuse", 10, 100), ("mx.b.example", "crash", 50, 60)),
    (("mx.b.example", "down", 10, None), ("mx.b.example", "refuse", 500, 600)),
    ((("out.a.example", "mx.b.example"), "link", 0, 30), (("mx.b.example", "out.a.example"), "link", 29, 40)),
])
def test_overlapping_failures_of_one_element_are_refused_before_the_run(make_lab, first, second):
    lab = two_hosts(make_lab)
    lab.fail(*first)
    lab.fail(*second)
    with pytest.raises(ConfigError, match="overlaps failure .* two failures of one element cannot be active"):
        lab.build()


def test_failures_of_one_element_one_after_the_other_are_fine(make_lab):
    lab = two_hosts(make_lab)
    lab.fail("mx.b.example", "refuse", 10, 100)
    lab.fail("mx.b.example", "crash", 100, 160)
    lab.fail("mx.b.example", "not_willing", 50, 120)  # a behaviour, not a switch: may overlap
    lab.send(0, SENDER, RECIPIENT)
    lab.run(until=DAY)
    assert lab.messages.iloc[0].status == "delivered"


@pytest.mark.parametrize("target", ["mx.b.example", ("out.a.example", "mx.b.example")])
def test_a_flapping_window_is_over_before_a_failure_starting_at_its_end(make_lab, target):
    """A down spell still running at the flapping window's end is ended at that instant, before the next
    failure of the element begins (it used to end after it: a crash then met a host being brought up, a
    link failure was undone)."""
    lab = two_hosts(make_lab)
    lab.fail(target, "flapping", start=0, end=100, mtbf=1, mttr=10_000)  # down almost at once, until 100
    lab.fail(target, "crash" if isinstance(target, str) else "link", start=100, end=400)
    lab.send(150, SENDER, RECIPIENT)
    lab.run(until=DAY)
    (spell,) = lab.spells
    assert spell[3] == 100
    assert lab.messages.iloc[0].delivered > 400  # the element stayed out of service until 400


def test_a_crash_after_a_partial_delivery_keeps_what_was_delivered(make_lab):
    """bob is accepted by the first MX, carol deferred (450) and carried to the backup MX; the sending host
    crashes during that second session. bob must not be sent again after the restart (Postfix marks each
    recipient done as it goes); only carol stays queued, and the cut attempt names its exchanger."""
    from maillab.mta.behaviours import RejectRecipients
    from maillab.smtp import Reply

    lab = make_lab(seed=1)
    lab.add_router("core")
    lab.add_host("out.a.example")
    lab.add_host("mx.b.example", behaviours=[RejectRecipients(frozenset({"carol@b.example"}),
                                                              Reply(450, "4.2.0", "try later"))])
    lab.add_host("backup.b.example")
    for host, latency in (("out.a.example", 0.01), ("mx.b.example", 0.01), ("backup.b.example", 1.0)):
        lab.add_link(host, "core", latency=latency)
    lab.add_domain("a.example", mx="out.a.example", users=["alice"])
    lab.add_domain("b.example", mx={"mx.b.example": 10, "backup.b.example": 20}, users=["bob", "carol"])
    lab.send(0, SENDER, ["bob@b.example", "carol@b.example"], size=500)
    lab.fail("out.a.example", "crash", start=1, end=100)
    lab.run(until=3600)
    bob = lab.messages[lab.messages.recipient == "bob@b.example"].iloc[0]
    assert bob.status == "delivered" and bob.duplicates == 0
    cut = lab.attempts[lab.attempts.outcome == "lost"].iloc[0]
    assert (cut.mx, cut.end, cut.recipients) == ("backup.b.example", 1, 1)
    later = lab.attempts[(lab.attempts.host == "out.a.example") & (lab.attempts.start >= 100)]
    assert (later.recipients == 1).all()  # only carol is tried again


@pytest.mark.parametrize(("crash_at", "copies"), [(4.25, 1), (4.75, 2)])
def test_a_crash_between_the_final_dot_and_its_reply_is_marked_as_a_duplicate_risk(make_lab, crash_at, copies):
    """r = 1 s: the final dot leaves at 4 s and reaches the server at 4.5 s, its 250 would be back at 5 s.
    Cut at 4.25 s the dot is lost in flight (one copy in the end); cut at 4.75 s the server has queued the
    message but the client never hears so, and sends it again after the restart (RFC 1047)."""
    lab = two_hosts(make_lab, latency=0.5)
    lab.send(0, SENDER, RECIPIENT, size=500)
    lab.fail("out.a.example", "crash", start=crash_at, end=100)
    lab.run(until=DAY)
    cut = lab.attempts.iloc[0]
    assert cut.outcome == "lost" and cut.duplicate_risk and cut.connection == "c1"
    assert len(lab.mailbox(RECIPIENT)) == copies


def test_a_failed_build_is_not_half_built(make_lab):
    lab = two_hosts(make_lab)
    lab.fail("mx.b.example", "refuse", 10, 100)
    lab.fail("mx.b.example", "crash", 50, 60)
    lab.send(5, SENDER, RECIPIENT)
    for _ in range(2):  # run() builds again and refuses again: it never runs an empty world
        with pytest.raises(ConfigError, match="overlaps"):
            lab.run(until=DAY)


def test_only_the_attempt_that_made_a_duplicate_is_marked_not_its_connections_other_messages(make_lab):
    """After the restart one connection carries all four messages; only m000001 arrives twice (its first
    copy's 250 was cut off by the crash)."""
    lab = two_hosts(make_lab, latency=0.5)
    for k in range(4):
        lab.send(k * 2.0, SENDER, RECIPIENT, size=500)
    lab.fail("out.a.example", "crash", start=4.75, end=600)
    lab.run(until=DAY)
    later = lab.attempts[lab.attempts.start >= 600]
    assert later.connection.nunique() == 1 and len(later) == 4
    marked = set(later[later.made_duplicate].message_id)
    assert marked == {lab.messages.message_id.iloc[0]}
    assert lab.messages.duplicates.tolist() == [1, 0, 0, 0]
