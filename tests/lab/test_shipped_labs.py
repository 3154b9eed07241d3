"""The shipped labs (topologies/*.yaml): each one validates, runs to its duration, loses no message, and
shows the lesson its comment block promises. Each lab runs once per test session (``ran``)."""

from __future__ import annotations

import email
import email.policy
import functools
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from maillab import Lab
from maillab.lab.loader import load_spec, validate_file

TOPOLOGIES = Path(__file__).resolve().parents[2] / "topologies"
LABS = sorted(path.stem for path in TOPOLOGIES.glob("*.yaml"))
SHIPPED = {"classic", "backup-mx", "relay-chain", "greylisting", "retry-storm", "campus", "internet"}


def path_of(name: str) -> Path:
    return TOPOLOGIES / f"{name}.yaml"


@functools.cache
def ran(name: str) -> Lab:
    """The lab of ``topologies/<name>.yaml``, run to its duration (once per session)."""
    lab = Lab.from_file(str(path_of(name)))
    return lab.run(until=load_spec(path_of(name)).duration)


def comment_block(name: str) -> list[str]:
    lines = path_of(name).read_text().splitlines()
    block = []
    for line in lines:
        if not line.startswith("#"):
            break
        block.append(line)
    return block


def failure_window(lab: Lab, kind: str, target: str) -> tuple[float, float]:
    rows = lab.failures[(lab.failures.kind == kind) & (lab.failures.target == target)]
    assert len(rows) == 1, f"expected one {kind} failure of {target}, found {len(rows)}"
    return float(rows.start.iloc[0]), float(rows.end.iloc[0])


def queue_total(lab: Lab) -> pd.Series:
    """Jobs queued (active + deferred) over every host, as a step function indexed by time."""
    queue = lab.queue.assign(jobs=lambda frame: frame.active + frame.deferred)
    per_host = queue.pivot_table(index="time", columns="host", values="jobs", aggfunc="last")
    return per_host.ffill().fillna(0).sum(axis=1)


# --- every lab -------------------------------------------------------------------------------------------

def test_every_brief_lab_is_shipped():
    assert SHIPPED <= set(LABS)


@pytest.mark.parametrize("name", LABS)
def test_lab_file_validates(name):
    spec = validate_file(path_of(name))
    assert spec.duration > 0
    assert spec.description == comment_block(name)[0].lstrip("#").strip()


@pytest.mark.parametrize("name", LABS)
def test_first_comment_line_is_a_short_description_followed_by_notes(name):
    block = comment_block(name)
    assert block, f"{name}.yaml must start with a comment block"
    first = block[0].lstrip("#").strip()
    assert first and len(block[0]) < 100, f"first comment line must be one short line: {block[0]!r}"
    notes = "\n".join(block[1:])
    assert "Look at:" in notes and "--set" in notes, "the notes say what to look at and what to try"


@pytest.mark.parametrize("name", LABS)
def test_lab_runs_to_its_duration_and_loses_no_message(name):
    lab = ran(name)
    assert lab.now == pytest.approx(load_spec(path_of(name)).duration)
    assert len(lab.messages) > 0
    lab.check_conservation()


# --- each lab's lesson -----------------------------------------------------------------------------------

def lesson_classic(lab: Lab) -> None:
    messages = lab.messages
    assert len(messages) == 1 and messages.status.iloc[0] == "delivered" and messages.attempts.iloc[0] == 1
    lines = iter(lab.transcript.line)
    for expected in ("220 ", "EHLO ", "MAIL FROM:", "RCPT TO:", "DATA", "354 ", ".", "250 ", "QUIT", "221 "):
        assert any(line == expected or line.startswith(expected) and expected != "."
                   for line in lines), f"transcript lacks {expected!r} in its place"
    assert (lab.transcript.line == "Subject: Hello Bob").any()  # "full": the content is recorded too


def lesson_backup_mx(lab: Lab) -> None:
    start, end = failure_window(lab, "down", "mx1.b.example")
    attempts = lab.attempts
    backup = attempts[(attempts.host == "mx2.b.example") & (attempts.mx == "mx1.b.example")]
    assert (backup[backup.start.between(start, end)].outcome != "delivered").all()
    forwarded = backup[backup.outcome == "delivered"]
    assert len(forwarded) >= 10 and (forwarded.start >= end).all()  # the backup forwards after the outage
    taken = attempts[(attempts.host == "mail.a.example") & (attempts.mx == "mx2.b.example")]
    assert (taken.outcome == "delivered").all() and taken.start.between(start, end).all()
    assert (lab.messages.status == "delivered").all()


def lesson_relay_chain(lab: Lab) -> None:
    messages = lab.messages
    remote = messages[(messages.status == "delivered") & ~messages.recipient.str.endswith("@a.example")]
    assert len(remote) >= 5
    for recipient in sorted(set(remote.recipient)):
        for raw in lab.mailbox(recipient):
            stored = email.message_from_bytes(raw, policy=email.policy.default)
            received = [str(header) for header in stored.get_all("Received")]
            assert len(received) >= 3, f"{recipient}: {received}"
            by = [header.split("by ")[1].split()[0] for header in received]
            assert by[1:3] == ["relay.a.example", "submit.a.example"], by
            assert stored["Return-Path"]
    bounced = messages[messages.status == "bounced"]
    assert list(bounced.recipient) == ["bbo@b.example"] and bounced.bounce_status.iloc[0] == "5.1.1"
    returned = [email.message_from_bytes(raw, policy=email.policy.default) for raw in lab.mailbox("alice@a.example")]
    assert any(m.get_content_type() == "multipart/report" for m in returned)  # the DSN came back to alice


def lesson_greylisting(lab: Lab) -> None:
    attempts, messages = lab.attempts, lab.messages
    greylisted = attempts[(attempts.code == 450) & (attempts.enhanced == "4.2.0")]
    assert set(greylisted.host) == {"postfix.a.example", "exim.b.example"}
    delivered = set(attempts[attempts.outcome == "delivered"].message_id)
    assert set(greylisted.message_id) <= delivered  # every greylisted message got through later
    late = messages[messages.message_id.isin(greylisted.message_id)]
    assert (late.latency >= 300).all()  # not before the greylisting delay
    by_sender = late.groupby("origin").latency.median()
    assert by_sender["postfix.a.example"] < by_sender["exim.b.example"]  # Postfix's 5 min scans vs Exim's 15 min
    assert (messages.latency < 60).mean() > 0.5  # known triplets pass at once


def lesson_retry_storm(lab: Lab) -> None:
    start, end = failure_window(lab, "down", "mx.big.example")
    total = queue_total(lab)
    before = total[total.index < start]
    assert before.max() <= 10  # steady state: mail goes straight through
    peak_time = total[total.index <= end + 900].idxmax()
    assert start < peak_time <= end + 900
    assert total.max() >= 200  # every message of the outage waits
    assert total.iloc[-1] <= 2  # drained by the end of the run
    assert total[total.index <= end + 2 * 3600].iloc[-1] <= 10  # and within two hours of the recovery
    assert (lab.messages.status == "delivered").all()


def lesson_campus(lab: Lab) -> None:
    messages = lab.messages
    assert (messages.status == "delivered").mean() >= 0.95
    assert messages.recipient.str.split("@").str[1].nunique() >= 8
    assert messages.origin.nunique() >= 8
    start, end = failure_window(lab, "down", "mail.physics.uni.example")
    attempts = lab.attempts
    deferred = attempts[(attempts.mx == "mail.physics.uni.example") & (attempts.outcome != "delivered")]
    assert deferred.start.between(start, end).any()
    assert ((attempts.code == 450) & (attempts.enhanced == "4.7.1")).any()  # the burst meets the rate limit


def lesson_internet(lab: Lab) -> None:
    messages = lab.messages
    assert 2000 <= len(messages) <= 8000  # moderate by default; scale with --set
    assert (messages.status == "delivered").mean() >= 0.9
    assert messages.recipient.str.split("@").str[1].nunique() >= 80
    assert messages.origin.nunique() >= 80
    sizes = messages["size"]
    assert sizes.max() > 50 * sizes.median()  # heavy tail
    kinds = set(lab.failures.kind)
    assert {"flapping", "partition", "dns", "down"} <= kinds
    assert (messages.latency > 600).sum() >= 10  # the failures leave a tail of late mail


LESSONS: dict[str, Callable[[Lab], None]] = {
    "classic": lesson_classic,
    "backup-mx": lesson_backup_mx,
    "relay-chain": lesson_relay_chain,
    "greylisting": lesson_greylisting,
    "retry-storm": lesson_retry_storm,
    "campus": lesson_campus,
    "internet": lesson_internet,
}


@pytest.mark.parametrize("name", LABS)
def test_lab_shows_its_lesson(name):
    assert name in LESSONS, f"topologies/{name}.yaml has no lesson check: add one to LESSONS"
    LESSONS[name](ran(name))
