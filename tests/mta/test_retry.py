"""Retry policies, driven without SimPy: REFERENCE.md section 7 worked cases 2-6 and 9, and the rest."""

from __future__ import annotations

import random

import pytest

from maillab.errors import ConfigError, UnknownPolicyError
from maillab.mta.retry import (
    DAY,
    DEFAULT_EXIM_RULES,
    HOUR,
    POLICY_NAMES,
    Deferral,
    DestinationHealth,
    EximParams,
    EximPolicy,
    EximRecord,
    EximRule,
    ExponentialParams,
    ExponentialPolicy,
    FixedPolicy,
    Outcome,
    PostfixParams,
    PostfixPolicy,
    RetryPolicy,
    Rfc5321Policy,
    RuleKind,
    SendmailPolicy,
    format_duration,
    make_policy,
    parse_duration,
    parse_exim_rule,
    simulate_schedule,
)

REFUSED = 0.002  # a refused connection: the attempt ends almost at once
SILENT = 30.0  # silently dropped packets: smtp_connect_timeout 30 s
FOREVER = float("inf")
HORIZON = 30 * DAY


def run(policy: RetryPolicy, fails_until: float, duration: float = REFUSED, **kw):
    return simulate_schedule(policy, fails_until, duration, HORIZON, **kw)


def defer(policy: RetryPolicy, now: float, arrival: float = 0.0, dest: str = "example.net", **kw) -> Deferral:
    return policy.deferred(now=now, arrival=arrival, destination=dest, **kw)


# --------------------------------------------------------------------------------------------------
# The interface and the registry


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_every_policy_satisfies_the_protocol(name):
    policy = make_policy(name)
    assert isinstance(policy, RetryPolicy)
    assert policy.name == name
    assert policy.first_attempt(12.5) == 12.5
    d = defer(policy, 10.0, arrival=0.0, attempt=1)
    assert d.retry_at is not None and d.retry_at > 10.0 and d.reason
    # the health hooks exist everywhere; without trouble nothing is suspended
    policy.connection_succeeded(now=11.0, destination="example.net")
    assert policy.suspended_until(now=11.0, destination="example.net") is None
    policy.destination_idle(destination="example.net")
    policy.delivered(now=12.0, destination="example.net")


def test_policy_names():
    assert POLICY_NAMES == ("postfix", "exim", "sendmail", "fixed", "exponential", "rfc5321")


def test_instances_do_not_share_state():
    a, b = make_policy("exim"), make_policy("exim")
    defer(a, 0.0)
    assert isinstance(a, EximPolicy) and isinstance(b, EximPolicy)
    assert a.retry_record("example.net") is not None
    assert b.retry_record("example.net") is None


def test_unknown_policy_name_lists_the_valid_ones():
    with pytest.raises(UnknownPolicyError) as err:
        make_policy("qmail")
    message = str(err.value)
    assert "'qmail'" in message
    for name in POLICY_NAMES:
        assert name in message
    assert isinstance(err.value, ConfigError)


def test_unknown_parameter_is_named_and_valid_ones_listed():
    with pytest.raises(ConfigError) as err:
        make_policy("postfix", maximal_backoff=100, queue_run_delay=60)
    message = str(err.value)
    assert "maximal_backoff" in message and "'postfix'" in message
    assert "maximal_backoff_time" in message and "queue_run_delay" in message
    assert not isinstance(err.value, UnknownPolicyError)


@pytest.mark.parametrize(
    ("name", "overrides", "named"),
    [
        ("postfix", {"queue_run_delay": -300}, "queue_run_delay"),
        ("postfix", {"minimal_backoff_time": 0}, "minimal_backoff_time"),
        ("postfix", {"maximal_backoff_time": 200}, "maximal_backoff_time"),  # below minimal 300
        ("postfix", {"maximal_queue_lifetime": -1}, "maximal_queue_lifetime"),
        ("postfix", {"initial_destination_concurrency": 0}, "initial_destination_concurrency"),
        ("postfix", {"initial_destination_concurrency": 2.5}, "initial_destination_concurrency"),
        ("postfix", {"queue_run_delay": True}, "queue_run_delay"),
        ("postfix", {"queue_run_delay": float("nan")}, "queue_run_delay"),
        ("postfix", {"queue_run_delay": "5x"}, "queue_run_delay"),
        ("postfix", {"queue_run_delay": [300]}, "queue_run_delay"),
        ("exim", {"retry_interval_max": 0}, "retry_interval_max"),
        ("exim", {"queue_run_interval": -5}, "queue_run_interval"),
        ("exim", {"rules": "F,4d,6h; F,2h,15m"}, "cutoffs must increase"),
        ("exim", {"rules": ("F,2h,15m",)}, "rules"),
        ("sendmail", {"q_interval": 0}, "q_interval"),
        ("fixed", {"interval": -1}, "interval"),
        ("exponential", {"factor": 0.5}, "factor"),
        ("exponential", {"maximum": 60}, "maximum"),  # below initial 300
        ("exponential", {"jitter": 1.0}, "jitter"),
        ("exponential", {"jitter": -0.1}, "jitter"),
        ("rfc5321", {"interval": 600}, "interval"),
        ("rfc5321", {"give_up_after": 3 * DAY}, "give_up_after"),
    ],
)
def test_invalid_parameters_are_rejected_by_name(name, overrides, named):
    with pytest.raises(ConfigError) as err:
        make_policy(name, **overrides)
    assert named in str(err.value)


def test_durations_may_be_given_as_text():
    policy = make_policy("postfix", maximal_queue_lifetime="1d", queue_run_delay="5m")
    assert isinstance(policy, PostfixPolicy)
    assert policy.params.maximal_queue_lifetime == DAY
    assert policy.params.queue_run_delay == 300
    exim = make_policy("exim", rules="F,1h,10m", queue_run_interval="30m")
    assert isinstance(exim, EximPolicy)
    assert exim.params.rules == (EximRule(RuleKind.FIXED, 3600, 600),)
    assert exim.params.queue_run_interval == 1800


def test_parse_duration():
    assert parse_duration("15m") == 900
    assert parse_duration("4d") == 4 * 86400
    assert parse_duration("1h30m") == 5400
    assert parse_duration("1w") == 604800
    assert parse_duration("90") == 90
    for bad in ("", "1x", "h", "1.5h", "-5m", "1h 30m"):
        with pytest.raises(ConfigError):
            parse_duration(bad)


def test_format_duration_is_exim_style():
    assert format_duration(363712) == "4d5h1m52s"
    assert format_duration(7200) == "2h"
    assert format_duration(0) == "0s"
    assert format_duration(691200) == "1w1d"


def test_deferral():
    assert Deferral(None, "lifetime expired").gave_up
    assert not Deferral(300.0, "backoff").gave_up
    with pytest.raises(ValueError):
        Deferral(float("inf"), "backoff")


# --------------------------------------------------------------------------------------------------
# Postfix: REFERENCE section 7, cases 2, 3, 4


def test_case2_postfix_refused_until_7500():
    schedule = run(make_policy("postfix"), fails_until=7500, duration=REFUSED)
    assert schedule.attempts == (0, 300, 600, 1200, 2400, 4800, 9000)
    assert schedule.outcome is Outcome.DELIVERED
    assert schedule.attempts[-1] == 9000


def test_case3_postfix_silent_drop_until_7500():
    schedule = run(make_policy("postfix"), fails_until=7500, duration=SILENT)
    assert schedule.attempts == (0, 600, 1500, 3300, 6900, 11100)
    assert schedule.outcome is Outcome.DELIVERED


def test_case4_postfix_permanent_outage():
    schedule = run(make_policy("postfix"), fails_until=FOREVER, duration=REFUSED)
    assert len(schedule.attempts) == 108
    assert schedule.outcome is Outcome.BOUNCED
    assert schedule.attempts[-1] == 433200  # 5 d 0 h 20 m: the final attempt starts here
    assert schedule.reason == "lifetime expired"
    after_4800 = schedule.attempts[schedule.attempts.index(4800) :]
    assert all(gap == 4200 for gap in zip_gaps(after_4800))


def zip_gaps(times):
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_postfix_null_sender_uses_bounce_queue_lifetime():
    normal = simulate_schedule(make_policy("postfix", bounce_queue_lifetime=DAY), FOREVER, REFUSED, HORIZON)
    bounce = simulate_schedule(
        make_policy("postfix", bounce_queue_lifetime=DAY), FOREVER, REFUSED, HORIZON, null_sender=True
    )
    assert normal.attempts[-1] == 433200
    assert bounce.outcome is Outcome.BOUNCED
    assert bounce.attempts[-1] == 4800 + 4200 * 20  # first scan attempt at or after 1 d
    assert bounce.attempts[-2] < DAY <= bounce.attempts[-1]


def test_postfix_expiry_only_after_a_failed_attempt_and_inclusive():
    policy = make_policy("postfix", maximal_queue_lifetime=1000)
    assert defer(policy, 999.9).retry_at is not None
    assert defer(policy, 1000.0).retry_at is None  # now >= arrival + lifetime
    zero = make_policy("postfix", maximal_queue_lifetime=0)  # "try only once"
    assert defer(zero, 0.002).gave_up


def test_postfix_backoff_is_message_age_clamped_then_put_on_the_scan_grid():
    policy = make_policy("postfix")
    assert defer(policy, 50.0).retry_at == 600  # eligible 350 -> scan 600
    assert defer(policy, 1000.0).retry_at == 2100  # eligible 2000 -> 2100
    assert defer(policy, 100000.0).retry_at == 104100  # delay capped at 4000


def test_postfix_scan_tolerance_of_one_second():
    policy = make_policy("postfix")
    assert defer(policy, 300.0, arrival=0.0).retry_at == 600  # eligible 600
    assert defer(policy, 300.5, arrival=0.0).retry_at == 600  # eligible 601 <= 600 + 1
    assert defer(policy, 300.6, arrival=0.0).retry_at == 900  # eligible 601.2 > 601
    strict = make_policy("postfix", scan_tolerance=0)
    assert defer(strict, 300.5, arrival=0.0).retry_at == 900


def test_postfix_overrides_and_qmgr_start():
    policy = make_policy("postfix", queue_run_delay=60, minimal_backoff_time=60, maximal_backoff_time=600)
    schedule = run(policy, FOREVER)
    assert schedule.attempts[:7] == (0, 60, 120, 240, 480, 960, 1560)
    late = make_policy("postfix", qmgr_start=17)
    assert defer(late, 0.002).retry_at == 317
    assert late.delay_warning is None
    assert make_policy("postfix", delay_warning_time=4 * HOUR).delay_warning == 4 * HOUR


def test_postfix_retry_never_lands_in_the_past():
    policy = make_policy("postfix", minimal_backoff_time=1, queue_run_delay=300)
    d = defer(policy, 600.0, arrival=599.5)  # eligible 601 -> scan 600 would be "now"
    assert d.retry_at == 900


# --------------------------------------------------------------------------------------------------
# Postfix dead destination: REFERENCE section 7, case 9


def test_case9_dead_destination_suspended_after_third_failure():
    policy = make_policy("postfix")
    assert isinstance(policy, PostfixPolicy)
    t, attempted, deferred_without_connection, windows = 0.0, [], [], []
    for message in range(5):
        if policy.suspended_until(now=t, destination="dead.example") is not None:
            deferred_without_connection.append(message)
            continue
        attempted.append(message)
        t += REFUSED  # the connection is refused
        policy.connection_failed(now=t, destination="dead.example")
        windows.append(policy.concurrency_window("dead.example"))
    third_failure = 3 * REFUSED
    assert attempted == [0, 1, 2]
    assert deferred_without_connection == [3, 4]
    assert windows == [3, 2, 0]
    assert policy.suspended_until(now=t, destination="dead.example") == pytest.approx(third_failure + 300)
    # re-enabled minimal_backoff_time later, afresh
    assert policy.suspended_until(now=third_failure + 299.9, destination="dead.example") is not None
    assert policy.suspended_until(now=third_failure + 300, destination="dead.example") is None
    assert policy.health("dead.example") == DestinationHealth(window=5)


def test_dead_destination_fail_cohorts_follow_the_window():
    policy = PostfixPolicy()
    policy.connection_failed(now=1.0, destination="d")
    assert policy.health("d").fail_cohorts == pytest.approx(1 / 5)
    policy.connection_failed(now=2.0, destination="d")
    assert policy.health("d").fail_cohorts == pytest.approx(1 / 5 + 1 / 3)
    assert policy.health("d").suspended_until is None
    policy.connection_failed(now=3.0, destination="d")
    assert policy.health("d").suspended_until == 303.0
    policy.connection_failed(now=4.0, destination="d")  # a straggler while dead: ignored
    assert policy.health("d").suspended_until == 303.0


def test_connection_success_resets_the_failure_count_and_regrows_the_window():
    policy = PostfixPolicy()
    policy.connection_failed(now=1.0, destination="d")
    policy.connection_failed(now=2.0, destination="d")
    policy.connection_succeeded(now=3.0, destination="d")
    assert policy.health("d").fail_cohorts == 0
    assert policy.concurrency_window("d") == 3
    policy.connection_succeeded(now=4.0, destination="d")
    policy.connection_succeeded(now=5.0, destination="d")
    policy.connection_succeeded(now=6.0, destination="d")
    assert policy.concurrency_window("d") == 5  # back to initial without busy deliveries
    for i in range(30):
        policy.connection_succeeded(now=7.0 + i, destination="d", busy=policy.concurrency_window("d"))
    assert policy.concurrency_window("d") == 20  # default_destination_concurrency_limit
    # the count was reset, so it takes the full three failures again to die
    policy.connection_failed(now=100.0, destination="d")
    assert policy.suspended_until(now=100.0, destination="d") is None


def test_window_drop_after_a_window_increase_is_two_then_one():
    policy = PostfixPolicy()
    policy.connection_failed(now=1.0, destination="d")  # 5 -> 3
    policy.connection_succeeded(now=2.0, destination="d")  # 3 -> 4, failure accumulator reset
    policy.connection_failed(now=3.0, destination="d")  # 4 -> 2 (overshoot again)
    assert policy.concurrency_window("d") == 2


def test_success_while_suspended_revives_the_destination():
    policy = PostfixPolicy()
    for t in (1.0, 2.0, 3.0):
        policy.connection_failed(now=t, destination="d")
    policy.connection_succeeded(now=4.0, destination="d")
    assert policy.suspended_until(now=4.0, destination="d") is None
    assert policy.concurrency_window("d") == 5


def test_destination_idle_forgets_unless_suspended():
    policy = PostfixPolicy()
    policy.connection_failed(now=1.0, destination="d")
    policy.destination_idle(destination="d")
    assert policy.health("d") == DestinationHealth(window=5)
    for t in (2.0, 3.0, 4.0):
        policy.connection_failed(now=t, destination="d")
    policy.destination_idle(destination="d")
    assert policy.suspended_until(now=5.0, destination="d") == 304.0


def test_concurrency_window_with_now_ends_a_finished_suspension():
    policy = PostfixPolicy()
    for t in (1.0, 2.0, 3.0):
        policy.connection_failed(now=t, destination="d")
    assert policy.concurrency_window("d") == 0
    assert policy.concurrency_window("d", now=302.0) == 0
    assert policy.concurrency_window("d", now=303.0) == 5
    assert policy.concurrency_window("other") == 5


def test_cohort_limit_zero_never_suspends_and_window_stays_at_least_one():
    policy = PostfixPolicy(PostfixParams(destination_concurrency_failed_cohort_limit=0))
    for t in range(10):
        policy.connection_failed(now=float(t), destination="d")
    assert policy.suspended_until(now=10.0, destination="d") is None
    assert policy.concurrency_window("d") == 1


def test_suspension_does_not_change_a_single_message_schedule():
    # the suspension (minimal_backoff_time) never outlasts a retry gap of the same message
    schedule = run(make_policy("postfix"), FOREVER, SILENT)
    assert schedule.skipped == ()


# --------------------------------------------------------------------------------------------------
# Exim: REFERENCE section 7, cases 5 and 6


def test_case5_exim_refused_until_7500():
    schedule = run(make_policy("exim"), fails_until=7500, duration=REFUSED)
    assert schedule.attempts == tuple(range(0, 8101, 900))
    assert schedule.outcome is Outcome.DELIVERED
    assert schedule.attempts[-1] == 8100  # 2 h 15 m


def test_case6_exim_permanent_outage():
    schedule = run(make_policy("exim"), fails_until=FOREVER, duration=REFUSED)
    fixed = tuple(range(0, 8101, 900))
    geometric = (11700, 17100, 25200, 37350, 55575, 82912)
    six_hourly = tuple(82912 + 21600 * k for k in range(1, 14))
    assert schedule.attempts == fixed + geometric + six_hourly
    assert len(schedule.attempts) == 29
    assert schedule.outcome is Outcome.BOUNCED
    assert schedule.attempts[-1] == 363712  # 101 h 01 m 52 s
    assert schedule.reason == "no retry rule covers 4d5h1m52s"


def test_exim_g_rule_uses_integer_arithmetic():
    policy = EximPolicy()
    policy._records["d"] = EximRecord(first_failed=0, last_try=37350, next_try=55575)
    d = defer(policy, 55575.9, dest="d")  # whole seconds: 55575; 18225 * 1500 / 1000 = 27337.5 -> 27337
    assert d.retry_at == 82912
    assert d.reason == "retry rule G,16h,1h,1.5"


def test_exim_times_are_from_the_destinations_first_failure():
    policy = make_policy("exim")
    assert isinstance(policy, EximPolicy)
    defer(policy, 0.0, arrival=0.0)  # message A: first failure of the host
    # message B arrives at 7000 and fails at 7300: the host has been failing 7300 s > 2h -> G rule
    d = defer(policy, 7300.0, arrival=7000.0)
    assert d.reason.startswith("retry rule G")
    assert policy.retry_record("example.net").first_failed == 0
    # another destination has its own record
    assert defer(policy, 7300.0, arrival=7000.0, dest="other.example").retry_at == 8200


def test_exim_delivered_clears_the_destination():
    policy = make_policy("exim")
    assert isinstance(policy, EximPolicy)
    defer(policy, 0.0)
    defer(policy, 900.0)
    policy.delivered(now=1800.0, destination="example.net")
    assert policy.retry_record("example.net") is None
    d = defer(policy, 10000.0, arrival=9000.0)
    assert d.retry_at == 10900
    assert policy.retry_record("example.net") == EximRecord(10000, 10000, 10900)


def test_exim_retry_interval_max_caps_every_gap():
    policy = make_policy("exim", rules="G,10d,1h,3", retry_interval_max=2 * HOUR)
    schedule = run(policy, FOREVER)
    assert schedule.attempts[:4] == (0, 3600, 10800, 18000)
    assert max(schedule.intervals) == 2 * HOUR
    assert schedule.outcome is Outcome.BOUNCED


def test_exim_queue_run_interval_picks_the_hint_up_at_the_next_pass():
    policy = make_policy("exim", queue_run_interval=1800)
    schedule = run(policy, fails_until=7500)
    # hints 900, 2700, ... are taken at the passes at or after them
    assert schedule.attempts == (0, 1800, 3600, 5400, 7200, 9000)
    assert schedule.outcome is Outcome.DELIVERED
    offset = make_policy("exim", queue_run_interval=1800, queue_run_start=100)
    assert defer(offset, 0.0).retry_at == 1900
    exact = make_policy("exim", queue_run_interval=900)
    assert defer(exact, 0.0).retry_at == 900  # a pass exactly at the hint


def test_exim_message_older_than_final_cutoff_times_out():
    policy = make_policy("exim")
    # the message arrived at 0; the host first fails at 400000, long after (record fresh)
    d = defer(policy, 400000.0, arrival=0.0)
    assert d.gave_up
    assert d.reason == "on queue longer than maximum retry"
    # a newer message to the same host is still retried
    assert defer(policy, 400010.0, arrival=400000.0).retry_at is not None


def test_exim_stale_retry_record_is_ignored():
    policy = make_policy("exim", retry_data_expire=DAY)
    assert isinstance(policy, EximPolicy)
    defer(policy, 0.0)
    defer(policy, 2 * DAY, arrival=2 * DAY - 10)
    assert policy.retry_record("example.net").first_failed == 2 * DAY


def test_exim_delay_warning_default_and_off():
    assert make_policy("exim").delay_warning == 24 * HOUR
    assert make_policy("exim", delay_warning=None).delay_warning is None


def test_exim_silent_drop_counts_from_the_end_of_the_first_attempt():
    schedule = run(make_policy("exim"), fails_until=7500, duration=SILENT)
    assert schedule.attempts[:3] == (0, 930, 1860)


# --------------------------------------------------------------------------------------------------
# Exim rule parsing


def test_parse_exim_default_rule():
    assert parse_exim_rule("F,2h,15m; G,16h,1h,1.5; F,4d,6h") == DEFAULT_EXIM_RULES
    assert [str(rule) for rule in DEFAULT_EXIM_RULES] == ["F,2h,15m", "G,16h,1h,1.5", "F,4d,6h"]
    assert DEFAULT_EXIM_RULES[1].p2 == 1500


def test_parse_exim_rule_variants():
    assert parse_exim_rule("f,1h30m,10m;") == (EximRule(RuleKind.FIXED, 5400, 600),)
    assert parse_exim_rule(" G , 1d , 30m , 2 ") == (EximRule(RuleKind.GEOMETRIC, 86400, 1800, 2.0),)
    assert parse_exim_rule("F,0,1m") == (EximRule(RuleKind.FIXED, 0, 60),)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        (";", "empty"),
        ("F,2h,15m;;F,4d,6h", "rule 2 is empty"),
        ("X,2h,15m", "unknown rule letter"),
        ("H,2h,15m,2", "H rule is not modelled"),
        ("F,2h", "expected F,cutoff,interval"),
        ("F,2h,15m,3", "expected F,cutoff,interval"),
        ("G,16h,1h", "expected G,cutoff,interval,factor"),
        ("F,2h,15q", "bad duration '15q'"),
        ("F,2h,0", "p1 (interval) must be > 0"),
        ("G,16h,1h,0.5", "factor must be >= 1"),
        ("G,16h,1h,x", "factor must be a number"),
        ("G,16h,1h,1.2345", "at most 3 decimals"),
        ("F,4d,6h; F,2h,15m", "cutoffs must increase"),
        ("F,2h,15m; F,2h,30m", "cutoffs must increase"),
    ],
)
def test_parse_exim_rule_errors(text, fragment):
    with pytest.raises(ConfigError) as err:
        parse_exim_rule(text)
    assert fragment in str(err.value)


def test_parse_exim_rule_error_names_the_rule():
    with pytest.raises(ConfigError) as err:
        parse_exim_rule("F,2h,15m; G,16h,1h,0.9")
    assert "rule 2 'G,16h,1h,0.9'" in str(err.value)


def test_exim_rule_direct_construction_is_checked():
    with pytest.raises(ConfigError):
        EximRule(RuleKind.FIXED, 3600, 600, factor=2.0)
    with pytest.raises(ConfigError):
        EximRule(RuleKind.FIXED, 3600.5, 600)
    with pytest.raises(ConfigError):
        EximRule("F", 3600, 600)
    with pytest.raises(ConfigError):
        EximParams(rules=())
    assert EximRule(RuleKind.FIXED, 3600.0, 600).cutoff == 3600


# --------------------------------------------------------------------------------------------------
# sendmail, fixed, exponential, RFC 5321


def test_sendmail_retries_at_every_queue_run_and_returns_after_5_days():
    policy = make_policy("sendmail")
    assert isinstance(policy, SendmailPolicy)
    assert policy.delay_warning == 4 * HOUR
    schedule = run(policy, FOREVER)
    assert schedule.attempts == tuple(float(t) for t in range(0, 432001, 1800))
    assert len(schedule.attempts) == 241
    assert schedule.outcome is Outcome.BOUNCED


def test_sendmail_next_run_is_strictly_after_now():
    policy = make_policy("sendmail", q_interval=900, q_start=60)
    assert defer(policy, 59.0).retry_at == 60
    assert defer(policy, 60.0).retry_at == 960
    assert defer(policy, 100.0, arrival=90.0).retry_at == 960
    assert make_policy("sendmail", queuewarn=None).delay_warning is None
    assert make_policy("sendmail", queuereturn="1d").params.queuereturn == DAY


def test_fixed_policy():
    policy = make_policy("fixed", interval=600, lifetime=3000)
    assert isinstance(policy, FixedPolicy)
    schedule = simulate_schedule(policy, FOREVER, 0.0, HORIZON)
    assert schedule.attempts == (0, 600, 1200, 1800, 2400, 3000)
    assert schedule.outcome is Outcome.BOUNCED
    assert make_policy("fixed").params.interval == 1800


def test_exponential_gaps_double_up_to_the_maximum():
    policy = make_policy("exponential")
    assert isinstance(policy, ExponentialPolicy)
    gaps = [defer(policy, 0.0, attempt=n).retry_at for n in range(1, 9)]
    assert gaps == [300, 600, 1200, 2400, 4800, 9600, 14400, 14400]
    assert policy.base_gap(10_000) == 4 * HOUR  # no overflow


def test_exponential_without_attempt_derives_it_from_the_message_age():
    with_count = simulate_schedule(make_policy("exponential"), FOREVER, REFUSED, HORIZON)
    policy = make_policy("exponential")
    times, t = [0.0], 0.0
    while True:
        d = defer(policy, t + REFUSED)  # no attempt= given
        if d.retry_at is None:
            break
        t = d.retry_at
        times.append(t)
    assert tuple(times) == with_count.attempts
    assert with_count.attempts[:4] == pytest.approx((0, 300.002, 900.004, 2100.006))


def test_exponential_rejects_a_bad_attempt_number():
    policy = make_policy("exponential")
    with pytest.raises(ValueError):
        defer(policy, 10.0, attempt=0)


def test_exponential_jitter_needs_an_injected_rng_and_is_reproducible():
    with pytest.raises(ConfigError, match="rng"):
        make_policy("exponential", jitter=0.1)
    with pytest.raises(ConfigError, match="rng"):
        ExponentialPolicy(ExponentialParams(), rng=42)
    first = make_policy("exponential", jitter=0.2, rng=random.Random(7))
    second = make_policy("exponential", jitter=0.2, rng=random.Random(7))
    a = [defer(first, 0.0, attempt=n).retry_at for n in range(1, 6)]
    b = [defer(second, 0.0, attempt=n).retry_at for n in range(1, 6)]
    assert a == b
    for n, retry_at in enumerate(a, 1):
        base = 300 * 2 ** (n - 1)
        assert 0.8 * base <= retry_at <= 1.2 * base
    assert a != [300, 600, 1200, 2400, 4800]


def test_rng_is_ignored_by_policies_that_do_not_draw():
    assert make_policy("postfix", rng=random.Random(1)).name == "postfix"


def test_rfc5321_policy():
    policy = make_policy("rfc5321")
    assert isinstance(policy, Rfc5321Policy)
    schedule = simulate_schedule(policy, FOREVER, 0.0, HORIZON)
    assert schedule.intervals[0] == 1800 and set(schedule.intervals) == {1800}
    assert schedule.attempts[-1] == 4 * DAY
    assert schedule.outcome is Outcome.BOUNCED
    assert make_policy("rfc5321", give_up_after=5 * DAY, interval=HOUR).params.interval == HOUR


@pytest.mark.parametrize("name", ["sendmail", "fixed", "exponential", "rfc5321", "exim"])
def test_lifetime_is_the_same_for_null_sender_mail_outside_postfix(name):
    a = simulate_schedule(make_policy(name), FOREVER, REFUSED, HORIZON)
    b = simulate_schedule(make_policy(name), FOREVER, REFUSED, HORIZON, null_sender=True)
    assert a.attempts == b.attempts


# --------------------------------------------------------------------------------------------------
# The driver


class _SuspendingPolicy(FixedPolicy):
    """Suspends its destination for 1000 s after every connection failure."""

    __slots__ = ("until",)

    def __init__(self) -> None:
        super().__init__()
        self.until: float | None = None

    def connection_failed(self, *, now: float, destination: str) -> None:
        self.until = now + 1000

    def suspended_until(self, *, now: float, destination: str) -> float | None:
        return self.until if self.until is not None and now < self.until else None


def test_simulate_schedule_records_skips_while_suspended():
    schedule = simulate_schedule(_SuspendingPolicy(), fails_until=4000, attempt_duration=0.0, horizon=HORIZON)
    assert schedule.attempts == (0, 1800, 3600, 5400)
    assert schedule.skipped == ()
    tight = _SuspendingPolicy()
    tight.params = make_policy("fixed", interval=600).params
    schedule = simulate_schedule(tight, fails_until=2000, attempt_duration=0.0, horizon=HORIZON)
    assert schedule.attempts == (0, 1200, 2400)
    assert schedule.skipped == (600, 1800)
    assert schedule.outcome is Outcome.DELIVERED
    assert schedule.finished_at == 2400


def test_simulate_schedule_stops_at_the_horizon():
    schedule = simulate_schedule(make_policy("postfix"), FOREVER, REFUSED, horizon=5000)
    assert schedule.outcome is Outcome.PENDING
    assert schedule.finished_at is None
    assert schedule.attempts == (0, 300, 600, 1200, 2400, 4800)


def test_simulate_schedule_with_late_arrival():
    schedule = simulate_schedule(make_policy("postfix"), 7500, REFUSED, HORIZON, arrival=100.0)
    assert schedule.attempts[0] == 100.0
    assert schedule.attempts[1] == 600  # eligible 400.002 -> scan 600
    assert schedule.finished_at == pytest.approx(schedule.attempts[-1] + REFUSED)
