"""The public surface of maillab.net: curated __all__, exception tree, layering, frozen records."""

import ast
import dataclasses
import pathlib

import pytest

import maillab.net
from maillab.errors import MaillabError
from maillab.net import (
    ConnectError,
    ConnectionRecord,
    ConnectionReset,
    ConnectRefused,
    ConnectTimeout,
    ConnOutcome,
    DNSError,
    DNSTempFail,
    EndpointClosed,
    ListenerClosed,
    MXRecord,
    NetError,
    NXDomain,
)

EXPECTED = {
    "DEFAULT_CONNECT_TIMEOUT", "DEFAULT_RTO", "DNS", "ConnOutcome", "ConnectError", "ConnectRefused",
    "ConnectTimeout", "ConnectionRecord", "ConnectionReset", "DNSError", "DNSTempFail", "Endpoint",
    "EndpointClosed", "EndpointState", "Host", "Link", "Listener", "ListenerClosed", "MXRecord", "NXDomain",
    "NetError", "Network", "NodeState", "Outage", "Peer", "Route", "Router",
}


def test_all_is_curated_and_every_name_exists():
    assert set(maillab.net.__all__) == EXPECTED
    assert len(maillab.net.__all__) == len(EXPECTED)
    for name in maillab.net.__all__:
        assert hasattr(maillab.net, name), name


def test_exception_tree():
    assert issubclass(NetError, MaillabError)
    for exc in (ConnectRefused, ConnectTimeout):
        assert issubclass(exc, ConnectError) and issubclass(exc, NetError)
    for exc in (NXDomain, DNSTempFail):
        assert issubclass(exc, DNSError) and issubclass(exc, NetError)
    for exc in (ConnectionReset, EndpointClosed, ListenerClosed):
        assert issubclass(exc, NetError)


def test_net_does_not_import_upper_layers():
    package = pathlib.Path(maillab.net.__file__).parent
    forbidden = ("maillab.smtp", "maillab.mta", "maillab.lab", "maillab.realnet")
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(forbidden), f"{path.name} imports {name}"


def test_records_are_frozen():
    record = ConnectionRecord(1.0, "c1", "a", "b", 25, ConnOutcome.OPENED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.time = 2.0
    assert dataclasses.asdict(record)["outcome"] is ConnOutcome.OPENED
    with pytest.raises(dataclasses.FrozenInstanceError):
        MXRecord(0, "x", None).preference = 1
