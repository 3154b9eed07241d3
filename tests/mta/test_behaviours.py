"""Server behaviours against their reference semantics (postgrey, quotas, windows, rate limits)."""

from __future__ import annotations

import pytest

from maillab.errors import ConfigError
from maillab.mta.behaviours import Client, DiskFull, Greylisting, NotWilling, Quota, RateLimit, RejectRecipients, Tarpit

A, B = "alice@a.example", "bob@b.example"


def ask(grey: Greylisting, now: float, address: str = "10.1.2.3", sender: str = A, rcpt: str = B):
    reply = grey.recipient(Client(now, address), sender, rcpt)
    return None if reply is None else (reply.code, reply.enhanced)


def test_greylisting_defers_until_the_delay_has_passed():
    grey = Greylisting()
    assert ask(grey, 0) == (450, "4.2.0")
    assert ask(grey, 299.9) == (450, "4.2.0")
    assert ask(grey, 300.0) is None
    assert ask(grey, 301, address="10.1.2.200") is None  # same /24
    assert ask(grey, 301, address="10.1.3.1") == (450, "4.2.0")  # another /24 is another triplet
    assert ask(grey, 302, rcpt="carol@b.example") == (450, "4.2.0")


def test_greylisting_starts_over_when_the_first_retry_is_too_late():
    grey = Greylisting()
    ask(grey, 0)
    assert ask(grey, 2 * 86400 + 1) == (450, "4.2.0")  # retry_window 2 d exceeded: a new first_seen
    assert ask(grey, 2 * 86400 + 301) is None


def test_greylisting_whitelists_a_client_after_five_spaced_passes():
    grey = Greylisting()
    for k in range(5):
        ask(grey, k * 4000, rcpt=f"u{k}@b.example")
        assert ask(grey, k * 4000 + 300, rcpt=f"u{k}@b.example") is None
    assert ask(grey, 30000, rcpt="new@b.example") is None  # whitelisted: no delay for a new triplet


def test_quota_notwilling_diskfull_reject_rate_tarpit():
    usage = {"bob@b.example": 900}
    quota = Quota(limit=1000, usage=usage.get)
    assert quota.recipient(Client(0, "x"), A, B) is None
    assert quota.message(Client(0, "x"), A, (B,), 200).code == 552
    usage[B] = 1000
    assert quota.recipient(Client(0, "x"), A, B).enhanced == "4.2.2"
    assert NotWilling(((10, 20),)).greeting(Client(15, "x")).code == 421
    assert NotWilling(((10, 20),), code=554).greeting(Client(15, "x")).code == 554
    assert NotWilling(((10, 20),)).greeting(Client(20, "x")) is None
    assert DiskFull(((0, 5),)).message(Client(1, "x"), A, (B,), 10).enhanced == "4.3.1"
    assert RejectRecipients(frozenset({B})).recipient(Client(0, "x"), A, B).code == 550
    limit = RateLimit(messages=2, window=60)
    assert [limit.recipient(Client(t, "x"), A, B) is None for t in (0, 1, 2, 61)] == [True, True, False, True]
    assert Tarpit(5).reply_delay(Client(0, "x")) == 5


@pytest.mark.parametrize("make", [
    lambda: Greylisting(delay=-1), lambda: Quota(limit=0), lambda: NotWilling(((5, 1),)),
    lambda: NotWilling(((0, 1),), code=450), lambda: RateLimit(messages=0), lambda: Tarpit(-1),
])
def test_impossible_parameters_are_config_errors(make):
    with pytest.raises(ConfigError):
        make()
