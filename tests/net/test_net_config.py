"""Bad parameters raise ConfigError saying what and where."""

import random

import pytest
import simpy

from maillab.errors import ConfigError, MaillabError
from maillab.net import Network


def two_hosts():
    net = Network(simpy.Environment(), random.Random(0))
    net.add_host("a"), net.add_host("b"), net.add_router("r")
    return net


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latency": -0.1}, "link a<->b: latency must be a finite number >= 0, got -0.1"),
        ({"latency": float("inf")}, "link a<->b: latency must be a finite number >= 0"),
        ({"latency": "1"}, "link a<->b: latency must be a finite number >= 0, got '1'"),
        ({"latency": 0.1, "bandwidth": 0}, "link a<->b: bandwidth must be a number > 0 or None, got 0"),
        ({"latency": 0.1, "loss": 1.0}, "link a<->b: loss must be a probability in \\[0, 1\\), got 1.0"),
        ({"latency": 0.1, "loss": -0.5}, "link a<->b: loss must be a probability"),
        ({"latency": 0.1, "jitter": 0.2}, "link a<->b: jitter must be None or a callable"),
    ],
)
def test_bad_link_parameters(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        two_hosts().add_link("a", "b", **kwargs)


def test_bad_topology():
    net = two_hosts()
    with pytest.raises(ConfigError, match="link a<->x: unknown node 'x'"):
        net.add_link("a", "x", 0.1)
    with pytest.raises(ConfigError, match="link a<->a: a link needs two different nodes"):
        net.add_link("a", "a", 0.1)
    net.add_link("a", "b", 0.1)
    with pytest.raises(ConfigError, match="link b<->a: these nodes are already linked"):
        net.add_link("b", "a", 0.1)
    with pytest.raises(ConfigError, match="node name 'a' is already taken"):
        net.add_host("a")
    with pytest.raises(ConfigError, match="node name must be a non-empty string"):
        net.add_router("")
    with pytest.raises(ConfigError, match="host c: address 10.0.0.1 already belongs to host a"):
        net.add_host("c", "10.0.0.1")
    with pytest.raises(ConfigError, match="host c: address must be an IPv4 or IPv6 address, got '10.0.0'"):
        net.add_host("c", "10.0.0")
    assert net.add_host("c").address == "10.0.0.3"


def test_explicit_addresses_are_skipped_by_auto_assignment():
    net = Network(simpy.Environment(), random.Random(0))
    net.add_host("x", "10.0.0.1")
    assert net.add_host("y").address == "10.0.0.2"
    assert net.host_by_address("10.0.0.2").name == "y"


def test_bad_lookups():
    net = two_hosts()
    with pytest.raises(ConfigError, match="unknown node 'nope'"):
        net.host("nope")
    with pytest.raises(ConfigError, match="'r' is a router, not a host"):
        net.host("r")
    with pytest.raises(ConfigError, match="no host has address '10.9.9.9'"):
        net.host_by_address("10.9.9.9")
    with pytest.raises(ConfigError, match="no link between 'a' and 'b'"):
        net.link("a", "b")
    with pytest.raises(ConfigError, match="unknown node 'nope'"):
        net.route("a", "nope")


def test_bad_connects():
    net = two_hosts()
    with pytest.raises(ConfigError, match="unknown node 'ghost'"):
        net.connect("ghost", "b", 25)
    with pytest.raises(ConfigError, match="connect a -> b: port must be an integer port 1..65535, got 0"):
        net.connect("a", "b", 0)
    with pytest.raises(ConfigError, match="connect a -> b: timeout must be a number > 0 or None, got -1"):
        net.connect("a", "b", 25, timeout=-1)
    with pytest.raises(ConfigError, match="connect a -> 'mail.example': neither a host name nor an address"):
        net.connect("a", "mail.example", 25)
    with pytest.raises(ConfigError, match="'r' is a router, not a host"):
        net.connect("a", "r", 25)


def test_bad_network_and_host_operations():
    env = simpy.Environment()
    with pytest.raises(ConfigError, match="Network: rto must be a number > 0, got 0"):
        Network(env, random.Random(0), rto=0)
    with pytest.raises(ConfigError, match="Network: rng must be a random.Random"):
        Network(env, 42)
    net = two_hosts()
    host = net.host("a")
    host.listen(25)
    with pytest.raises(ConfigError, match="host a: port 25 is already listening"):
        host.listen(25)
    with pytest.raises(ConfigError, match="host a: listen port must be an integer port"):
        host.listen(70000)
    host.crash()
    with pytest.raises(ConfigError, match="host a is crashed: use restart\\(\\), not up\\(\\)"):
        host.up()
    with pytest.raises(ConfigError, match="host a is crashed: restart\\(\\) it before listen\\(25\\)"):
        host.listen(25)


def test_config_error_is_a_maillab_error_and_a_value_error():
    with pytest.raises(MaillabError):
        two_hosts().add_link("a", "b", -1)
    with pytest.raises(ValueError):
        two_hosts().add_link("a", "b", -1)
