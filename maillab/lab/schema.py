"""The JSON Schema of lab files (docs/topology-format.md). ``maillab schema`` prints it for editors.

The schema checks shape: keys, types, quantities' spelling, ranges. Meaning (a link to an unknown host,
overlapping failures…) is checked by ``maillab.lab.loader`` after it.
"""

from __future__ import annotations

import json
from typing import Any

from maillab.mta.retry import POLICY_NAMES

_NUMBER_UNIT = r"\d+(\.\d+)?"


def _quantity(description: str, number: dict[str, Any], pattern: str) -> dict[str, Any]:
    """A number, or a string with a unit; both options carry the description used in error messages."""
    return {"description": description,
            "anyOf": [{**number, "description": description},
                      {"type": "string", "pattern": pattern, "description": description}]}


DURATION = _quantity("a duration like 30s, 5m, 2h, 4d, 1h30m or a number of seconds >= 0",
                     {"type": "number", "minimum": 0}, rf"^\s*({_NUMBER_UNIT}\s*(ms|min|s|m|h|d|w)\s*)+$")
SIZE = _quantity("a size like 2000, 2k, 10M or 64KiB", {"type": "integer", "minimum": 0},
                 rf"^\s*{_NUMBER_UNIT}\s*(KiB|MiB|GiB|k|K|M|G|B)?$")
RATE = _quantity("a rate like 1/s, 60/h or 0.5/min (or a number per second > 0)",
                 {"type": "number", "exclusiveMinimum": 0}, rf"^\s*{_NUMBER_UNIT}\s*/\s*(ms|s|sec|min|m|h|d)$")
BANDWIDTH = _quantity("a bandwidth like 10Mbit/s or 1MB/s (or octets per second > 0)",
                      {"type": "number", "exclusiveMinimum": 0}, rf"^\s*{_NUMBER_UNIT}\s*(k|M|G)?(bit|B)/s$")
NAME = {"type": "string", "pattern": r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$"}
ADDRESS = {"type": "string", "pattern": r"^[^@\s]+@[A-Za-z0-9.-]+$"}


def _object(properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False,
            **extra}


def _one_key(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """A list item written as ``- name: {...}``."""
    return _object({name: body}, (name,))


def _window(**properties: Any) -> dict[str, Any]:
    return {"start": DURATION, "end": DURATION, **properties}


BEHAVIOURS = {"anyOf": [
    _one_key("greylisting", _object({"delay": DURATION, "retry_window": DURATION, "max_age": DURATION,
                                     "auto_whitelist_clients": {"type": "integer", "minimum": 1},
                                     "whitelist_gap": DURATION})),
    _one_key("quota", _object({"limit": SIZE}, ("limit",))),
    _one_key("reject_recipients", _object({"addresses": {"type": "array", "items": ADDRESS, "minItems": 1}},
                                          ("addresses",))),
    _one_key("rate_limit", _object({"messages": {"type": "integer", "minimum": 1}, "window": DURATION},
                                   ("messages",))),
    _one_key("tarpit", _object({"delay": DURATION}, ("delay",))),
]}

HOST = _object({
    "role": {"enum": ["client", "submission", "relay", "mx"]},
    "address": {"type": "string", "format": "ipv4"},
    "retry": {"enum": list(POLICY_NAMES)},
    "retry_params": {"type": "object"},
    "error_class": {"enum": ["postfix", "exim"]},
    "relayhost": NAME,
    "relay_clients": {"type": "array", "items": {"type": "string"}},
    "spool": {"enum": ["durable", "volatile"]},
    "hopcount_limit": {"type": "integer", "minimum": 1},
    "connection_limit": {"type": "integer", "minimum": 1},
    "destination_concurrency_limit": {"type": "integer", "minimum": 1},
    "max_message_size": SIZE,
    "max_recipients": {"type": "integer", "minimum": 1},
    "pipelining": {"type": "boolean"},
    "client_pipelining": {"enum": ["auto", "off"]},
    "connect_timeout": DURATION,
    "behaviours": {"type": "array", "items": BEHAVIOURS},
})

LINK = _object({
    "between": {"type": "array", "items": NAME, "minItems": 2, "maxItems": 2},
    "latency": DURATION,
    "bandwidth": BANDWIDTH,
    "loss": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
    "jitter": DURATION,
}, ("between", "latency"))

DOMAIN = _object({
    "mx": {"anyOf": [NAME, {"type": "array", "items": NAME, "minItems": 1},
                     {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0},
                      "minProperties": 1}]},
    "users": {"type": "array", "items": {"type": "string", "pattern": r"^[A-Za-z0-9._+-]+$"}},
    "accept_any_user": {"type": "boolean"},
}, ("mx",))

_PEERS = {"anyOf": [{"type": "array", "items": {"type": "string"}, "minItems": 1},
                    {"type": "object", "additionalProperties": {"type": "number", "exclusiveMinimum": 0},
                     "minProperties": 1}]}
_MESSAGE_SIZE = {"anyOf": [SIZE,
                           _one_key("lognormal", _object({"median": SIZE, "sigma": {"type": "number", "minimum": 0}},
                                                         ("median", "sigma"))),
                           _one_key("uniform", {"type": "array", "items": SIZE, "minItems": 2, "maxItems": 2})]}
_COUNT = {"anyOf": [{"type": "integer", "minimum": 1},
                    _one_key("uniform", {"type": "array", "items": {"type": "integer", "minimum": 1},
                                         "minItems": 2, "maxItems": 2})]}
_TRAFFIC = {"from": _PEERS, "to": _PEERS, "size": _MESSAGE_SIZE, "recipients": _COUNT,
            "subject": {"type": "string"}}

WORKLOADS = {"anyOf": [
    _one_key("poisson", _object({"rate": RATE, "start": DURATION, "end": DURATION, **_TRAFFIC},
                                ("rate", "from", "to"))),
    _one_key("burst", _object({"at": DURATION, "count": {"type": "integer", "minimum": 1}, "over": DURATION,
                               **_TRAFFIC}, ("at", "count", "from", "to"))),
    _one_key("daily", _object({"mean_rate": RATE, "peak_hour": {"type": "number", "minimum": 0, "maximum": 24},
                               "amplitude": {"type": "number", "minimum": 0, "maximum": 1},
                               "start": DURATION, "end": DURATION, **_TRAFFIC}, ("mean_rate", "from", "to"))),
    _one_key("messages", {"type": "array", "minItems": 1, "items": _object({
        "at": DURATION, "from": ADDRESS, "to": {"anyOf": [ADDRESS, {"type": "array", "items": ADDRESS, "minItems": 1}]},
        "size": SIZE, "subject": {"type": "string"}, "via": NAME}, ("at", "from", "to"))}),
]}

_HOST_WINDOW = _window(host=NAME)
FAILURES = {"anyOf": [
    _object({"kind": {"enum": ["down", "refuse", "crash"]}, **_HOST_WINDOW}, ("kind", "host", "start")),
    _object({"kind": {"const": "link"}, **_window(between=LINK["properties"]["between"])},
            ("kind", "between", "start")),
    _object({"kind": {"const": "flapping"}, "host": NAME, "between": LINK["properties"]["between"],
             "mtbf": DURATION, "mttr": DURATION, **_window()}, ("kind", "mtbf", "mttr")),
    _object({"kind": {"const": "partition"},
             "groups": {"type": "array", "minItems": 2, "items": {"type": "array", "items": NAME, "minItems": 1}},
             **_window()}, ("kind", "groups", "start")),
    _object({"kind": {"const": "dns"}, "domain": {"type": "string"}, **_window()}, ("kind", "domain", "start")),
    _object({"kind": {"const": "not_willing"}, "code": {"enum": [421, 554]}, **_HOST_WINDOW},
            ("kind", "host", "start")),
    _object({"kind": {"const": "disk_full"}, **_HOST_WINDOW}, ("kind", "host", "start")),
]}

LAB_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://maillab.example/schema/lab.json",
    "title": "maillab lab file",
    "description": "A whole mail lab: hosts, links, domains, load, failures, run settings.",
    **_object({
        "lab": _object({"description": {"type": "string"}, "duration": DURATION,
                        "seed": {"type": "integer"}, "warmup": DURATION,
                        "transcript": {"enum": ["off", "commands", "full", False],
                                       "description": "off, commands or full (YAML reads a bare off as false: "
                                                      "both mean off)"}}),
        "routers": {"type": "array", "items": NAME},
        "hosts": {"type": "object", "propertyNames": NAME, "additionalProperties": HOST, "minProperties": 1},
        "links": {"type": "array", "items": LINK},
        "domains": {"type": "object", "propertyNames": NAME, "additionalProperties": DOMAIN, "minProperties": 1},
        "workloads": {"type": "array", "items": WORKLOADS},
        "failures": {"type": "array", "items": FAILURES},
    }, ("hosts", "domains")),
}


def schema_json() -> str:
    return json.dumps(LAB_SCHEMA, indent=2)
