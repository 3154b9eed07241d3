"""HOST:PORT parsing for --listen and --server (maillab.realnet.endpoint)."""

from __future__ import annotations

import re

import pytest

from maillab.errors import ConfigError
from maillab.realnet import Endpoint, parse_endpoint


@pytest.mark.parametrize(("text", "options", "expected"), [
    ("127.0.0.1:2525", {}, Endpoint("127.0.0.1", 2525)),
    ("localhost:25", {}, Endpoint("localhost", 25)),
    ("[::1]:2525", {}, Endpoint("::1", 2525)),
    ("mx.example.test", {"default_port": 25}, Endpoint("mx.example.test", 25)),
    ("::1", {"default_port": 25}, Endpoint("::1", 25)),
    ("127.0.0.1:0", {"allow_zero": True}, Endpoint("127.0.0.1", 0)),
    (" 127.0.0.1:65535 ", {}, Endpoint("127.0.0.1", 65535)),
])
def test_good_endpoints(text, options, expected):
    assert parse_endpoint(text, **options) == expected


@pytest.mark.parametrize(("text", "options", "message"), [
    ("bad", {}, "no port"),
    ("127.0.0.1:", {"default_port": 25}, "no port"),
    (":2525", {}, "no host"),
    ("127.0.0.1:0", {}, "out of range 1-65535"),
    ("127.0.0.1:65536", {"allow_zero": True}, "out of range 0-65535"),
    ("127.0.0.1:-1", {}, "not a number"),
    ("[::1", {}, "'[' without ']'"),
    ("[::1]2525", {}, "expected ':' after ']'"),
])
def test_bad_endpoints_name_the_problem(text, options, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_endpoint(text, **options)


def test_str_round_trips():
    assert str(Endpoint("::1", 25)) == "[::1]:25"
    assert parse_endpoint(str(Endpoint("::1", 25))) == Endpoint("::1", 25)
