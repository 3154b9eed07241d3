"""Lab files: read YAML, apply overrides, check shape (JSON Schema) and meaning, build the Lab.

    spec = load_spec("topologies/backup-mx.yaml", overrides={"lab.seed": "7"})
    lab = build_lab(spec)                # or Lab.from_file(path, seed=…, overrides=…)
    lab.run(until=spec.duration)

Every error is a ``ConfigError`` that reads ``FILE:LINE: key.path: what was expected``.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from maillab.errors import ConfigError
from maillab.lab.failures import failure_of, find_overlap
from maillab.lab.schema import LAB_SCHEMA
from maillab.mta.retry import make_policy
from maillab.quantities import parse_duration

Path_ = tuple[str | int, ...]
@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    """Built on first use: the format checker imports slow optional modules (about 1.5 s)."""
    return jsonschema.Draft202012Validator(LAB_SCHEMA, format_checker=jsonschema.FormatChecker())
HOST_FAILURES = ("down", "refuse", "crash", "not_willing", "disk_full")


@dataclass(frozen=True, slots=True)
class LabSpec:
    """A checked lab file: its data (plain YAML values) and where each value came from."""

    data: dict[str, Any]
    source: str
    root: yaml.Node | None = None
    overridden: frozenset[Path_] = field(default_factory=frozenset)

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.data.get("lab") or {})

    @property
    def duration(self) -> float:
        return parse_duration(self.settings.get("duration", "1d"))

    @property
    def warmup(self) -> float:
        return parse_duration(self.settings.get("warmup", 0))

    @property
    def seed(self) -> int:
        return int(self.settings.get("seed", 1))

    @property
    def description(self) -> str:
        return str(self.settings.get("description") or first_comment(self.source))

    def where(self, path: Path_) -> str:
        """``FILE:LINE: key.path`` for messages."""
        dotted = ".".join(str(part) for part in path) or "(top level)"
        if any(path[: len(o)] == o or o[: len(path)] == path for o in self.overridden):
            return f"--set {dotted}"
        line = locate(self.root, path) if self.root is not None else None
        return f"{self.source}:{line}: {dotted}" if line else f"{self.source}: {dotted}"

    def error(self, path: Path_, message: str) -> ConfigError:
        return ConfigError(f"{self.where(path)}: {message}")


# --- reading ---------------------------------------------------------------------------------------------

def first_comment(source: str) -> str:
    """The first comment line of a file: its one-line description."""
    try:
        for line in Path(source).read_text().splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip()
            if line.strip():
                break
    except OSError:
        pass
    return ""


def read_yaml(path: str | Path) -> tuple[dict[str, Any], yaml.Node | None]:
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ConfigError(f"{source}: cannot read: {error.strerror or error}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    if root is not None:
        _reject_duplicate_keys(root, source)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: the file must be a mapping with hosts:, domains:, … (see maillab schema)")
    return data, root


def _reject_duplicate_keys(node: yaml.Node, source: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            if key.value in seen:
                raise ConfigError(f"{source}:{key.start_mark.line + 1}: key {key.value!r} appears twice "
                                  f"(first on line {seen[key.value]})")
            seen[key.value] = key.start_mark.line + 1
            _reject_duplicate_keys(value, source)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _reject_duplicate_keys(item, source)


def locate(root: yaml.Node | None, path: Path_) -> int | None:
    """The 1-based line of the value at ``path`` (or of its deepest existing ancestor)."""
    node, line = root, root.start_mark.line + 1 if root is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if match is None:
                return line
            node, line = match[1], match[0].start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


# --- overrides -------------------------------------------------------------------------------------------

def apply_overrides(data: dict[str, Any], overrides: Mapping[str, Any]) -> frozenset[Path_]:
    """Set each ``key.path`` (names may contain dots: the longest existing key wins) to its value, read as
    YAML when it is a string. Returns the paths set."""
    paths = set()
    for dotted, raw in overrides.items():
        value = yaml.safe_load(raw) if isinstance(raw, str) else raw
        container, key, path = _resolve(data, dotted)
        if isinstance(container, list):
            assert isinstance(key, int)
            container[key] = value
        else:
            container[key] = value
        paths.add(path)
    return frozenset(paths)


def _resolve(data: Any, dotted: str) -> tuple[Any, str | int, Path_]:
    parts, node = dotted.split("."), data
    path: list[str | int] = []
    while parts:
        if isinstance(node, list):
            if not parts[0].isdigit() or int(parts[0]) >= len(node):
                raise ConfigError(f"--set {dotted}: {parts[0]!r} is not an index of a list of {len(node)}")
            index = int(parts.pop(0))
            if not parts:
                return node, index, (*path, index)
            node, path = node[index], [*path, index]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"--set {dotted}: {'.'.join(map(str, path))} is not a mapping")
        key = _longest_key(node, parts)
        if not parts[len(key.split(".")):]:
            return node, key, (*path, key)
        parts = parts[len(key.split(".")):]
        if key not in node:
            if tuple(path) in ((), ("hosts",), ("domains",)):  # names are declared, never invented by --set
                where = ".".join(map(str, path)) or "the top level"
                known = ", ".join(sorted(map(str, node))) or "nothing"
                raise ConfigError(f"--set {dotted}: {where} has no key {key!r} (it has: {known})")
            node[key] = {}  # a setting the file left at its default, e.g. a host's retry_params
        node, path = node[key], [*path, key]
    raise ConfigError(f"--set {dotted}: empty path")


def _longest_key(node: dict[str, Any], parts: list[str]) -> str:
    for size in range(len(parts), 0, -1):
        candidate = ".".join(parts[:size])
        if candidate in node:
            return candidate
    return parts[0]


# --- checking --------------------------------------------------------------------------------------------

def load_spec(path: str | Path, overrides: Mapping[str, Any] | None = None) -> LabSpec:
    """Read, override and check a lab file; raises ConfigError naming file, line and key path."""
    data, root = read_yaml(path)
    overridden = apply_overrides(data, overrides or {})
    spec = LabSpec(data, str(path), root, overridden)
    _check_shape(spec)
    _check_meaning(spec)
    return spec


def validate_file(path: str | Path) -> LabSpec:
    return load_spec(path)


def _check_shape(spec: LabSpec) -> None:
    error = jsonschema.exceptions.best_match(_validator().iter_errors(spec.data))
    if error is None:
        return
    error, path = _narrow(error, tuple(error.absolute_path))
    raise spec.error(path, _explain(error))


def _narrow(error: jsonschema.ValidationError, path: Path_) -> tuple[jsonschema.ValidationError, Path_]:
    """For a list item that may take several forms (a failure kind, a workload or behaviour name), explain
    the form the item says it is, rather than every form at once."""
    while error.validator == "anyOf" and isinstance(error.instance, dict):
        branch = _branch_for(error.instance, error.schema["anyOf"])
        if branch is None:
            break
        inner = jsonschema.exceptions.best_match(
            jsonschema.Draft202012Validator(branch, format_checker=jsonschema.FormatChecker()).iter_errors(
                error.instance))
        if inner is None:
            break
        error, path = inner, (*path, *inner.absolute_path)
    return error, path


def _branch_for(instance: dict[str, Any], options: list[dict[str, Any]]) -> dict[str, Any] | None:
    kind = instance.get("kind")
    for option in options:
        if kind is not None and kind in _kind_values(option):
            return option
        required = option.get("required", [])
        if kind is None and len(instance) == 1 and required == list(instance):
            return option
    return None


def _explain(error: jsonschema.ValidationError) -> str:
    described = error.schema.get("description") if isinstance(error.schema, dict) else None
    if described and error.validator in ("pattern", "type", "minimum", "exclusiveMinimum", "anyOf"):
        return f"{error.instance!r} is not {described}"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return f"{error.message}; expected one of: {', '.join(allowed)}" if allowed else error.message
    if error.validator == "anyOf":
        options = error.schema["anyOf"]
        kind_values = [_kind_values(option) for option in options]
        if all(kind_values):
            kinds_text = ", ".join(value for values in kind_values for value in values)
            return f"kind must be one of: {kinds_text} (got {_short(error.instance)})"
        names = [str(next(iter(option.get("required", [])), "")) for option in options]
        if all(names):
            return f"expected one of: {', '.join(names)} (got {_short(error.instance)})"
    return error.message


def _kind_values(option: dict[str, Any]) -> list[str]:
    """The ``kind`` values a failure option accepts (its discriminator), or [] when it has none."""
    kind = option.get("properties", {}).get("kind", {})
    return [kind["const"]] if "const" in kind else list(kind.get("enum", []))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


def _check_meaning(spec: LabSpec) -> None:
    for check in (_check_nodes, _check_links, _check_domains, _check_hosts, _check_workloads, _check_failures,
                  _check_settings):
        check(spec)


def _nodes(spec: LabSpec) -> set[str]:
    return set(spec.data["hosts"]) | set(spec.data.get("routers") or [])


def _check_nodes(spec: LabSpec) -> None:
    routers = spec.data.get("routers") or []
    for index, router in enumerate(routers):
        if router in spec.data["hosts"] or routers.index(router) != index:
            raise spec.error(("routers", index), f"{router!r} is declared twice (as host or router)")


def _check_links(spec: LabSpec) -> None:
    nodes, seen = _nodes(spec), set()
    for index, link in enumerate(spec.data.get("links") or []):
        a, b = link["between"]
        for end, name in enumerate((a, b)):
            if name not in nodes:
                raise spec.error(("links", index, "between", end), f"{name!r} is not a declared host or router")
        if a == b:
            raise spec.error(("links", index, "between"), f"a link from {a!r} to itself")
        if frozenset((a, b)) in seen:
            raise spec.error(("links", index, "between"), f"a second link between {a} and {b}")
        seen.add(frozenset((a, b)))


def _check_domains(spec: LabSpec) -> None:
    for domain, body in spec.data["domains"].items():
        mx = body["mx"]
        names = [mx] if isinstance(mx, str) else list(mx)
        for name in names:
            if name not in spec.data["hosts"]:
                raise spec.error(("domains", domain, "mx"), f"MX {name!r} is not a declared host")


def _check_hosts(spec: LabSpec) -> None:
    for name, host in spec.data["hosts"].items():
        relayhost = host.get("relayhost")
        if relayhost is not None and relayhost not in spec.data["hosts"]:
            raise spec.error(("hosts", name, "relayhost"), f"{relayhost!r} is not a declared host")
        for index, network in enumerate(host.get("relay_clients") or []):
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise spec.error(("hosts", name, "relay_clients", index),
                                 f"{network!r} is not an address or network") from None
        try:
            make_policy(host.get("retry", "postfix"), **(host.get("retry_params") or {}))
        except ConfigError as error:
            raise spec.error(("hosts", name, "retry_params"), str(error)) from None


def _domain_of(peer: str) -> str:
    return peer.rpartition("@")[2]


def _check_workloads(spec: LabSpec) -> None:
    domains, hosts = spec.data["domains"], spec.data["hosts"]
    for index, workload in enumerate(spec.data.get("workloads") or []):
        kind, body = next(iter(workload.items()))
        if kind == "messages":
            for number, message in enumerate(body):
                where = ("workloads", index, "messages", number)
                if message.get("via") is not None and message["via"] not in hosts:
                    raise spec.error((*where, "via"), f"{message['via']!r} is not a declared host")
                if message.get("via") is None and _domain_of(message["from"]) not in domains:
                    raise spec.error((*where, "from"), "the sender's domain is not declared; add via: HOST")
            continue
        for side in ("from", "to"):
            for peer in body[side]:
                if _domain_of(peer) not in domains and side == "from":
                    raise spec.error(("workloads", index, kind, side), f"sender domain {_domain_of(peer)!r} is "
                                     "not declared (senders need a home host)")


def _check_failures(spec: LabSpec) -> None:
    hosts, domains, nodes = spec.data["hosts"], spec.data["domains"], _nodes(spec)
    links = {frozenset(link["between"]) for link in spec.data.get("links") or []}
    for index, failure in enumerate(spec.data.get("failures") or []):
        where = ("failures", index)
        start, end = parse_duration(failure.get("start", 0)), failure.get("end")
        if end is not None and parse_duration(end) <= start:
            raise spec.error((*where, "end"), f"ends at {end} but starts at {failure.get('start', 0)}")
        host = failure.get("host")
        if host is not None and host not in hosts:
            raise spec.error((*where, "host"), f"{host!r} is not a declared host")
        between = failure.get("between")
        if between is not None and frozenset(between) not in links:
            raise spec.error((*where, "between"), f"there is no link between {between[0]} and {between[1]}")
        if failure["kind"] == "flapping" and (host is None) == (between is None):
            raise spec.error(where, "a flapping failure needs exactly one of host: or between:")
        for group, members in enumerate(failure.get("groups") or []):
            for member, name in enumerate(members):
                if name not in nodes:
                    raise spec.error((*where, "groups", group, member), f"{name!r} is not a declared host or router")
        domain = failure.get("domain")
        if domain is not None and domain != "*" and domain not in domains:
            raise spec.error((*where, "domain"), f"{domain!r} is not a declared domain (or \"*\" for all)")
    _check_overlaps(spec)


def _check_overlaps(spec: LabSpec) -> None:
    failures = [failure_of(item) for item in spec.data.get("failures") or []]
    links = [tuple(link["between"]) for link in spec.data.get("links") or []]
    overlap = find_overlap(failures, links)
    if overlap is not None:
        index, other, element = overlap
        raise spec.error(("failures", index), f"overlaps failures.{other} on the same {element}: "
                         "two failures of one element cannot be active at once")


def _check_settings(spec: LabSpec) -> None:
    if spec.warmup >= spec.duration:
        raise spec.error(("lab", "warmup"), f"warm-up {spec.warmup:g} s must be shorter than the run "
                         f"({spec.duration:g} s)")
