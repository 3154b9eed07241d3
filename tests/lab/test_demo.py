"""The demo lab and its command: runs end to end, conserves every message, writes every output."""

from __future__ import annotations

import json
import mailbox

import pandas as pd

from maillab.cli import main
from maillab.lab.demo import build_demo


def test_demo_lab_shows_queueing_fallback_greylisting_and_bounces():
    lab = build_demo(seed=1, messages=60).run(until=86400)
    lab.check_conservation()
    attempts = lab.attempts
    assert (attempts.mx == "mx2.b.example").any()  # fallback to the backup MX during the outage
    assert ((attempts.host == "mx2.b.example") & (attempts.outcome == "delivered")).any()  # it forwards later
    assert (attempts.enhanced == "4.2.0").any()  # greylisted
    assert (lab.messages.status == "bounced").any() and (lab.messages.status == "delivered").any()


def test_demo_command_prints_a_summary_and_writes_every_output(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--messages", "30", "--quiet"]) == 0
    printed = capsys.readouterr().out
    for phrase in ("summary after one simulated day", "delivered", "latency p90", "attempts per message"):
        assert phrase in printed
    for name in ("messages.csv", "attempts.csv", "transcript.csv", "queue.csv", "summary.json",
                 "latency_cdf.png", "retry_timeline.png", "queue_length.png"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    messages = pd.read_csv(out / "messages.csv")
    assert summary["messages"] == len(messages) == 30
    assert summary["delivered"] == (messages.status == "delivered").sum()
    box = mailbox.Maildir(out / "maildir" / "mx.d.example" / "dave@d.example", create=False)
    assert all(message["Return-Path"] for message in box)


def test_demo_command_rejects_bad_arguments(capsys):
    assert main(["demo", "--messages", "0"]) == 2
    assert "--messages" in capsys.readouterr().err


def test_demo_is_deterministic(tmp_path):
    a = build_demo(seed=4, messages=40).run(until=86400)
    b = build_demo(seed=4, messages=40).run(until=86400)
    pd.testing.assert_frame_equal(a.messages, b.messages)
    pd.testing.assert_frame_equal(a.attempts, b.attempts)
