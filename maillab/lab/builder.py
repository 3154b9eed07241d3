"""From a checked lab file (``LabSpec``) to a built ``Lab``: hosts, links, domains, load, failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from maillab.lab.failures import failure_of
from maillab.lab.lab import Lab
from maillab.lab.loader import LabSpec
from maillab.lab.workloads import plan
from maillab.mta.behaviours import Behaviour, Greylisting, Quota, RateLimit, RejectRecipients, Tarpit
from maillab.quantities import parse_bandwidth, parse_duration, parse_size

#: lab-file host keys that are MtaConfig fields under the same name, and how to read their values
_HOST_SETTINGS: dict[str, Callable[[Any], Any]] = {
    "retry": str, "error_class": str, "relayhost": str, "spool": str, "hopcount_limit": int,
    "connection_limit": int, "destination_concurrency_limit": int, "max_recipients": int,
    "client_pipelining": str, "max_message_size": parse_size, "connect_timeout": parse_duration,
}


def build_lab(spec: LabSpec, seed: int | None = None) -> Lab:
    """The Lab of ``spec``; ``seed`` overrides the file's."""
    settings = spec.settings
    transcript = settings.get("transcript", "commands")
    lab = Lab(seed=spec.seed if seed is None else seed, transcript_mode="off" if transcript is False else transcript,
              duration=spec.duration, warmup=spec.warmup, description=spec.description)
    for router in spec.data.get("routers") or []:
        lab.add_router(router)
    for name, host in spec.data["hosts"].items():
        _add_host(lab, name, host)
    for link in spec.data.get("links") or []:
        _add_link(lab, link)
    for name, domain in spec.data["domains"].items():
        lab.add_domain(name, domain["mx"], domain.get("users", []), domain.get("accept_any_user", False))
    _add_workloads(lab, spec)
    for failure in spec.data.get("failures") or []:
        _add_failure(lab, failure)
    lab.build()
    return lab


def _add_host(lab: Lab, name: str, host: dict[str, Any]) -> None:
    settings = {key: read(host[key]) for key, read in _HOST_SETTINGS.items() if key in host}
    if "retry_params" in host:
        settings["retry_params"] = dict(host["retry_params"])
    if "relay_clients" in host:
        settings["relay_clients"] = tuple(host["relay_clients"])
    if "pipelining" in host:
        settings["server_pipelining"] = bool(host["pipelining"])
    lab.roles[name] = host.get("role", "mx")
    lab.add_host(name, host.get("address"), [_behaviour(b) for b in host.get("behaviours") or []], **settings)


def _behaviour(item: dict[str, Any]) -> Behaviour:
    kind, body = next(iter(item.items()))
    body = dict(body or {})
    if kind == "greylisting":
        grey = Greylisting()
        for key, value in body.items():
            setattr(grey, key, int(value) if key == "auto_whitelist_clients" else parse_duration(value))
        grey.__post_init__()
        return grey
    if kind == "quota":
        return Quota(limit=parse_size(body["limit"]))
    if kind == "reject_recipients":
        return RejectRecipients(frozenset(a.lower() for a in body["addresses"]))
    if kind == "rate_limit":
        return RateLimit(int(body["messages"]), parse_duration(body.get("window", 60)))
    return Tarpit(parse_duration(body["delay"]))


def _add_link(lab: Lab, link: dict[str, Any]) -> None:
    a, b = link["between"]
    jitter = parse_duration(link["jitter"]) if link.get("jitter") else None
    lab.add_link(a, b, latency=parse_duration(link["latency"]),
                 bandwidth=parse_bandwidth(link["bandwidth"]) if "bandwidth" in link else None,
                 loss=float(link.get("loss", 0.0)),
                 jitter=(lambda rng, mean=jitter: rng.expovariate(1 / mean)) if jitter else None)


def _add_workloads(lab: Lab, spec: LabSpec) -> None:
    users = {name: list(domain.get("users") or []) for name, domain in spec.data["domains"].items()}
    for message in plan(spec.data.get("workloads") or [], users, spec.duration, lambda name: lab.streams[name]):
        lab.send(message.at, message.sender, message.recipients, via=message.via, size=message.size,
                 subject=message.subject)


def _add_failure(lab: Lab, item: dict[str, Any]) -> None:
    failure = failure_of(item)
    lab.fail(failure.target, failure.kind, failure.start, failure.end, **failure.options)
