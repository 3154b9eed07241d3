"""Lab files: good ones build the lab they describe; broken ones get a located, human error."""

from __future__ import annotations

import textwrap

import pytest

from maillab import Lab
from maillab.errors import ConfigError
from maillab.lab.loader import load_spec
from maillab.quantities import parse_bandwidth, parse_duration, parse_rate, parse_size

BASE = """\
# Two hosts and a link.
lab: {duration: 2h, seed: 4}
hosts:
  out.a.example: {role: submission}
  mx.b.example: {retry: exim}
links:
  - {between: [out.a.example, mx.b.example], latency: 5ms, bandwidth: 10Mbit/s}
domains:
  a.example: {mx: out.a.example, users: [alice]}
  b.example: {mx: {mx.b.example: 10}, users: [bob]}
workloads:
  - messages:
      - {at: 0s, from: alice@a.example, to: bob@b.example, size: 2k, subject: hi}
"""


def write(tmp_path, text, name="lab.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_good_file_builds_the_lab_it_describes(tmp_path):
    lab = Lab.from_file(str(write(tmp_path, BASE)))
    assert (lab.seed, lab.duration, lab.description) == (4, 7200.0, "Two hosts and a link.")
    assert lab.mtas["mx.b.example"].policy.name == "exim" and lab.roles["out.a.example"] == "submission"
    lab.run()
    assert lab.now == 7200 and lab.messages.status.tolist() == ["delivered"]


BROKEN = [
    ("unknown key", ("  mx.b.example: {retry: exim}", "  mx.b.example: {retyr: exim}"),
     r"lab\.yaml:5: hosts\.mx\.b\.example: .*'retyr' was unexpected.*expected one of: address"),
    ("wrong type", ("latency: 5ms", "latency: [5]"), r"lab\.yaml:7: links\.0\.latency: \[5\] is not a duration"),
    ("negative latency", ("latency: 5ms", "latency: -5"), r":7: links\.0\.latency: -5 is not a duration .* >= 0"),
    ("bad unit", ("latency: 5ms", "latency: 5 parsecs"), r":7: links\.0\.latency: '5 parsecs' is not a duration"),
    ("link to an unknown host", ("between: [out.a.example, mx.b.example]", "between: [out.a.example, mx.c.example]"),
     r":7: links\.0\.between\.1: 'mx\.c\.example' is not a declared host or router"),
    ("MX pointing nowhere", ("{mx: {mx.b.example: 10}", "{mx: {mx9.b.example: 10}"),
     r":10: domains\.b\.example\.mx: MX 'mx9\.b\.example' is not a declared host"),
    ("unknown retry policy", ("{retry: exim}", "{retry: qmail}"), r":5: hosts\.mx\.b\.example\.retry: 'qmail' is not one of"),
    ("bad retry parameter", ("{retry: exim}", "{retry: postfix, retry_params: {minimal_backof_time: 5}}"),
     r":5: hosts\.mx\.b\.example\.retry_params: .*minimal_backof_time"),
    ("not YAML", ("links:", "links: [oops"), r"lab\.yaml:\d+: not valid YAML"),
    ("duplicate key", ("  mx.b.example: {retry: exim}", "  mx.b.example: {retry: exim}\n  mx.b.example: {}"),
     r"lab\.yaml:6: key 'mx\.b\.example' appears twice \(first on line 5\)"),
    ("missing section", ("domains:", "domainz:"), r"'domains' is a required property|'domainz' was unexpected"),
    ("unknown workload", ("  - messages:", "  - mesages:"), r":12: workloads\.0: expected one of: poisson, burst"),
]


@pytest.mark.parametrize("name, change, message", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_files_get_located_human_errors(tmp_path, name, change, message):
    old, new = change
    assert old in BASE
    path = write(tmp_path, BASE.replace(old, new, 1))
    with pytest.raises(ConfigError, match=message):
        load_spec(path)


FAILURES = [
    ("unknown failure kind", "  - {kind: explode, host: mx.b.example, start: 0}",
     r":15: failures\.0: kind must be one of: down, refuse, crash"),
    ("failure missing its host", "  - {kind: down, start: 0}", r"failures\.0: 'host' is a required property"),
    ("failure of an unknown host", "  - {kind: down, host: nobody.example, start: 0}",
     r"failures\.0\.host: 'nobody\.example' is not a declared host"),
    ("end before start", "  - {kind: down, host: mx.b.example, start: 2h, end: 1h}", r"failures\.0\.end: ends at 1h"),
    ("overlapping contradictory failures",
     "  - {kind: down, host: mx.b.example, start: 0, end: 2h}\n  - {kind: crash, host: mx.b.example, start: 1h}",
     r":16: failures\.1: overlaps failures\.0 on the same host mx\.b\.example"),
    ("partition overlapping a link failure",
     "  - {kind: link, between: [out.a.example, mx.b.example], start: 0, end: 1h}\n"
     "  - {kind: partition, groups: [[out.a.example], [mx.b.example]], start: 30m, end: 2h}",
     r"failures\.1: overlaps failures\.0 on the same link"),
    ("flapping without a target", "  - {kind: flapping, mtbf: 1h, mttr: 5m}", r"exactly one of host: or between:"),
]


@pytest.mark.parametrize("name, failures, message", FAILURES, ids=[f[0] for f in FAILURES])
def test_broken_failures_get_located_human_errors(tmp_path, name, failures, message):
    path = write(tmp_path, BASE + "failures:\n" + failures + "\n")
    with pytest.raises(ConfigError, match=message):
        load_spec(path)


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_spec(tmp_path / "nope.yaml")


def test_overrides_reach_the_model_and_names_may_contain_dots(tmp_path):
    path = write(tmp_path, BASE)
    lab = Lab.from_file(str(path), overrides={"hosts.mx.b.example.retry": "sendmail", "lab.seed": "11",
                                              "links.0.latency": "50ms"})
    assert lab.seed == 11 and lab.mtas["mx.b.example"].policy.name == "sendmail"
    assert lab.network.link("out.a.example", "mx.b.example").latency == 0.05
    with pytest.raises(ConfigError, match=r"--set hosts\.nothere\.retry: hosts has no key 'nothere'"):
        Lab.from_file(str(path), overrides={"hosts.nothere.retry": "exim"})
    with pytest.raises(ConfigError, match=r"--set hosts\.mx\.b\.example\.retry: 'qmail' is not one of"):
        Lab.from_file(str(path), overrides={"hosts.mx.b.example.retry": "qmail"})


def test_workloads_and_failures_of_every_kind_build_and_run(tmp_path):
    text = BASE + textwrap.dedent("""\
      - poisson: {rate: 120/h, end: 1h, from: [a.example], to: {b.example: 1}, size: {lognormal: {median: 3k, sigma: 1}}}
      - burst: {at: 30m, count: 20, over: 1m, from: [a.example], to: [b.example], recipients: {uniform: [1, 2]}}
      - daily: {mean_rate: 60/h, from: [a.example], to: [b.example], size: {uniform: [1k, 5k]}}
      - messages: [{at: 96m, from: alice@a.example, to: bob@b.example}]
    failures:
      - {kind: refuse, host: mx.b.example, start: 10m, end: 20m}
      - {kind: flapping, between: [out.a.example, mx.b.example], mtbf: 20m, mttr: 2m, start: 30m, end: 90m}
      - {kind: dns, domain: b.example, start: 95m, end: 100m}
      - {kind: not_willing, host: mx.b.example, code: 554, start: 100m, end: 105m}
      - {kind: disk_full, host: mx.b.example, start: 105m, end: 110m}
    """)
    lab = Lab.from_file(str(write(tmp_path, text))).run()
    lab.check_conservation()
    assert len(lab.messages) > 100
    enhanced = set(lab.attempts.enhanced.dropna())
    assert {"4.4.1", "4.4.3"} <= enhanced  # refused, DNS
    assert (lab.failures.kind == "flapping").any()  # realised down spells are in the failures table


def test_quantities_read_as_people_write_them():
    assert parse_duration("1h30m") == 5400 and parse_duration("250ms") == 0.25 and parse_duration(7) == 7
    assert parse_size("64KiB") == 65536 and parse_size("2k") == 2000 and parse_size("10M") == 10_000_000
    assert parse_rate("60/h") == pytest.approx(1 / 60) and parse_rate("2/s") == 2
    assert parse_bandwidth("10Mbit/s") == 1_250_000 and parse_bandwidth("1MB/s") == 1_000_000
    for parse, bad in ((parse_duration, "5 parsecs"), (parse_size, "big"), (parse_rate, "fast"),
                       (parse_bandwidth, "10 mbps")):
        with pytest.raises(ValueError, match="is not a"):
            parse(bad)


def test_overrides_may_add_a_setting_the_file_left_out_and_bad_values_blame_the_override(tmp_path):
    path = write(tmp_path, BASE.replace("{retry: exim}", "{}"))
    lab = Lab.from_file(str(path), overrides={"hosts.mx.b.example.retry_params.maximal_backoff_time": "1.5h"})
    assert lab.mtas["mx.b.example"].policy.params.maximal_backoff_time == 5400
    with pytest.raises(ConfigError, match=r"^--set hosts\.mx\.b\.example\.retry_params"):
        Lab.from_file(str(path), overrides={"hosts.mx.b.example.retry_params.maximal_backoff_time": "soon"})


def test_a_bare_off_transcript_means_off(tmp_path):
    lab = Lab.from_file(str(write(tmp_path, BASE.replace("seed: 4}", "seed: 4, transcript: off}"))))
    assert lab.recorder.transcript_mode.value == "off"
