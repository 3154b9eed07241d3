"""DNS: MX order, implicit MX (RFC 5321 §5.1), NXDomain, temporary failures during outages."""

import random

import pytest
import simpy

from maillab.errors import ConfigError
from maillab.net import DNS, DNSTempFail, MXRecord, Network, NXDomain


def lab():
    env = simpy.Environment()
    net = Network(env, random.Random(0))
    net.add_host("mx1.example.org", "192.0.2.1")
    net.add_host("mx2.example.org", "192.0.2.2")
    net.add_host("backup.example.net", "192.0.2.3")
    return env, net, net.dns


def test_mx_records_sorted_by_preference_equal_ones_in_insertion_order():
    env, net, dns = lab()
    dns.add_mx("example.org", "backup.example.net", 20)
    dns.add_mx("example.org", "mx2.example.org", 10)
    dns.add_mx("example.org", "mx1.example.org", 10)
    assert dns.resolve_mx("example.org") == [
        MXRecord(10, "mx2.example.org", "192.0.2.2"),
        MXRecord(10, "mx1.example.org", "192.0.2.1"),
        MXRecord(20, "backup.example.net", "192.0.2.3"),
    ]


def test_names_are_case_insensitive_and_trailing_dot_is_ignored():
    env, net, dns = lab()
    dns.add_mx("Example.ORG.", "MX1.example.org", 5)
    assert dns.resolve_mx("example.org.") == [MXRecord(5, "mx1.example.org", "192.0.2.1")]
    assert dns.resolve_a("MX1.Example.Org") == "192.0.2.1"


def test_dangling_mx_has_no_address():
    env, net, dns = lab()
    dns.add_mx("example.org", "gone.example.org", 10)
    assert dns.resolve_mx("example.org") == [MXRecord(10, "gone.example.org", None)]


def test_implicit_mx_is_the_domain_itself_with_preference_zero():
    env, net, dns = lab()
    assert dns.resolve_mx("mx1.example.org") == [MXRecord(0, "mx1.example.org", "192.0.2.1")]
    dns.add_domain("plain.example", "198.51.100.7")
    assert dns.resolve_mx("plain.example") == [MXRecord(0, "plain.example", "198.51.100.7")]


def test_existing_domain_without_mx_or_address_has_no_exchanger():
    env, net, dns = lab()
    dns.add_domain("empty.example")
    assert dns.resolve_mx("empty.example") == []
    with pytest.raises(NXDomain, match="no A record"):
        dns.resolve_a("empty.example")


def test_unknown_names_are_nxdomain():
    env, net, dns = lab()
    with pytest.raises(NXDomain, match="nowhere.example"):
        dns.resolve_mx("nowhere.example")
    with pytest.raises(NXDomain, match="no such name"):
        dns.resolve_a("nowhere.example")


def test_outage_window_is_a_temporary_failure_from_start_to_end():
    env, net, dns = lab()
    dns.add_mx("example.org", "mx1.example.org", 10)
    dns.outage(100.0, 200.0)
    answers = []

    def probe():
        for t in (99.0, 100.0, 199.0, 200.0):
            yield env.timeout(t - env.now)
            try:
                answers.append((t, len(dns.resolve_mx("example.org"))))
            except DNSTempFail:
                answers.append((t, "tempfail"))

    env.process(probe())
    env.run()
    assert answers == [(99.0, 1), (100.0, "tempfail"), (199.0, "tempfail"), (200.0, 1)]


def test_outage_limited_to_one_domain_and_its_subdomains():
    env, net, dns = lab()
    dns.outage(0.0, 10.0, domain="example.org")
    with pytest.raises(DNSTempFail):
        dns.resolve_a("mx1.example.org")
    with pytest.raises(DNSTempFail):
        dns.resolve_mx("example.org")
    assert dns.resolve_a("backup.example.net") == "192.0.2.3"
    with pytest.raises(NXDomain):
        dns.resolve_mx("notexample.org")


def test_fail_and_restore_affect_every_lookup_including_unknown_names():
    env, net, dns = lab()
    dns.fail()
    assert not dns.available()
    with pytest.raises(DNSTempFail):
        dns.resolve_a("mx1.example.org")
    with pytest.raises(DNSTempFail):
        dns.resolve_mx("nowhere.example")
    dns.restore()
    assert dns.resolve_a("mx1.example.org") == "192.0.2.1"


def test_hosts_get_a_records_and_conflicting_records_are_rejected():
    env, net, dns = lab()
    host = net.add_host("auto")
    assert dns.resolve_a("auto") == host.address == "10.0.0.1"
    dns.add_a("auto", "10.0.0.1")  # the same record again is fine
    with pytest.raises(ConfigError, match="DNS A record auto: already 10.0.0.1, cannot also be 10.0.0.9"):
        dns.add_a("auto", "10.0.0.9")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: d.add_mx("x.example", "mx.example", -1), "preference must be an integer 0..65535"),
        (lambda d: d.add_mx("x.example", "mx.example", 1.5), "preference must be an integer 0..65535"),
        (lambda d: d.add_a("x.example", "not-an-ip"), "DNS A record x.example: address must be an IPv4"),
        (lambda d: d.add_mx("", "mx.example", 1), "DNS MX domain must be a non-empty string"),
        (lambda d: d.outage(10.0, 5.0), "DNS outage \\(all\\): end must be a number > start"),
        (lambda d: d.outage(-1.0, 5.0), "DNS outage \\(all\\): start must be a finite number >= 0"),
    ],
)
def test_bad_records_raise_config_errors(call, message):
    with pytest.raises(ConfigError, match=message):
        call(DNS(simpy.Environment()))
