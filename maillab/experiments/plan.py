"""A sweep's plan: grid points x replications -> one ``RunTask`` per run, with its seed and cache key.

**Seeds and common random numbers.** Replication ``k`` (0-based) of a sweep with base seed ``S`` runs with
seed ``S * 1000 + k`` in *every* grid point. The lab derives each of its random streams from the seed and the
stream's name (``maillab/<seed>/workload/0``, ``…/content``, ``…/mta/<host>``, ``…/network``), so in one
replication every grid point starts from the same streams: the same arrivals, senders, recipients, sizes
and bodies, the same MX shuffles, as far as the swept parameter leaves them alone. Different replications
have different seeds, hence independent streams. ``S`` defaults to the lab file's ``lab.seed`` (1 when
unset); at most 1000 replications, so that two base seeds never share a replication seed.

**Checks.** Every grid point is loaded and checked (``load_spec``) before anything runs: a bad key or value
is a ``ConfigError`` naming it (``--grid key.path: …``) and nothing is started.

**Cache keys** hash the lab file's content (or the factory's name and source), the overrides of the run
(fixed ``overrides`` and the grid point), the seed, ``until``, what is measured, maillab's version and a hash
of the simulation's source code (``runner.code_fingerprint``: editing the engine or the lab invalidates the
cache; editing the command line or the plots does not).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from maillab import __version__
from maillab.errors import ConfigError
from maillab.experiments.runner import LabFactory, LabSource, Metrics, MetricSpec, RunTask, code_fingerprint

SEED_STRIDE = 1000
MAX_REPLICATIONS = SEED_STRIDE
CACHE_FORMAT = 1
RESERVED_COLUMNS = ("point", "replication", "seed")


def replication_seed(base: int, replication: int) -> int:
    """The seed of replication ``replication`` (0-based) in every grid point of a sweep with base seed ``base``."""
    return base * SEED_STRIDE + replication


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the last key varying fastest (``itertools.product`` order)."""
    for key, values in grid.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"grid: keys must be key paths like hosts.mx.b.example.retry, got {key!r}")
        if key in RESERVED_COLUMNS:
            raise ConfigError(f"grid: {key!r} is a column of the runs table; give the parameter another name")
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
            raise ConfigError(f"grid {key}: expected a non-empty list of values, got {values!r}")
        duplicates = [v for i, v in enumerate(values) if any(v == w and type(v) is type(w) for w in values[:i])]
        if duplicates:
            raise ConfigError(f"grid {key}: value {duplicates[0]!r} is listed twice")
    return [dict(zip(grid, combination, strict=True)) for combination in itertools.product(*grid.values())]


def column_value(value: Any) -> Any:
    """A parameter value as it appears in the runs table: scalars as they are, lists and mappings as YAML
    flow text (``[]``, ``{delay: 5m}``) so that the column can be grouped and written to CSV."""
    if isinstance(value, list | tuple | dict):
        import yaml

        return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return value


@dataclass(frozen=True, slots=True)
class Plan:
    """The runs of a sweep, in table order: grid point by grid point, replications within each."""

    source: LabSource
    parameters: tuple[str, ...]
    replications: int
    base_seed: int
    metrics: MetricSpec
    tasks: tuple[RunTask, ...]

    def table(self, values: Sequence[Mapping[str, Any]], executed: int) -> pd.DataFrame:
        """The tidy runs table: point, every parameter, replication, seed, then the metrics."""
        selected = [self.metrics.select_from(v) for v in values]
        names = list(dict.fromkeys(name for run in selected for name in run))
        clash = sorted(set(names) & {*self.parameters, *RESERVED_COLUMNS})
        if clash:
            raise ConfigError(f"metrics: {', '.join(clash)} is also a parameter or column name; rename the metric")
        rows = [{"point": task.point, **{key: column_value(v) for key, v in task.params},
                 "replication": task.replication, "seed": task.seed, **run}
                for task, run in zip(self.tasks, selected, strict=True)]
        frame = pd.DataFrame(rows, columns=["point", *self.parameters, "replication", "seed", *names])
        frame.attrs.update({"lab": self.source.name, "parameters": list(self.parameters), "metrics": names,
                            "base_seed": self.base_seed, "replications": self.replications,
                            "runs_executed": executed, "runs_cached": len(self.tasks) - executed})
        return frame


def make_plan(lab_or_file: Any, grid: Mapping[str, Sequence[Any]], replications: int, seed: int | None,
              metrics: Metrics, until: float | str | None, overrides: Mapping[str, Any] | None) -> Plan:
    """Check everything the sweep was given and lay out its runs (nothing runs here)."""
    if not isinstance(replications, int) or isinstance(replications, bool) or not 1 <= replications <= MAX_REPLICATIONS:
        raise ConfigError(f"replications must be an integer from 1 to {MAX_REPLICATIONS}, got {replications!r}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    points = grid_points(grid)
    fixed = dict(overrides or {})
    both = sorted(set(fixed) & set(grid))
    if both:
        raise ConfigError(f"{both[0]} is both set (overrides) and swept (grid); keep one")
    source = _source(lab_or_file, fixed)
    file_seed = _check_points(source, fixed, points)
    base_seed = file_seed if seed is None else seed
    spec = MetricSpec.of(metrics)
    stop = _until(until)
    tasks = tuple(_task(source, fixed, point, number, replication, replications, base_seed, stop, spec)
                  for number, point in enumerate(points) for replication in range(replications))
    return Plan(source, tuple(grid), replications, base_seed, spec, tasks)


def _task(source: LabSource, fixed: dict[str, Any], point: dict[str, Any], number: int, replication: int,
          replications: int, base_seed: int, until: float | None, metrics: MetricSpec) -> RunTask:
    seed = replication_seed(base_seed, replication)
    key = cache_key(source, fixed, point, seed, until, metrics)
    return RunTask(number * replications + replication, number, replication, seed, tuple(point.items()),
                   tuple(fixed.items()), until, source, metrics, key, code_fingerprint())


def cache_key(source: LabSource, fixed: Mapping[str, Any], point: Mapping[str, Any], seed: int,
              until: float | None, metrics: MetricSpec) -> str:
    material = {"format": CACHE_FORMAT, "maillab": __version__, "code": code_fingerprint(),
                "lab": source.fingerprint(),
                "overrides": sorted([key, value] for key, value in {**fixed, **point}.items()),
                "seed": seed, "until": until, "metrics": metrics.fingerprint()}
    text = json.dumps(material, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _source(lab_or_file: Any, fixed: dict[str, Any]) -> LabSource:
    from maillab.lab.lab import Lab

    if isinstance(lab_or_file, Lab):
        raise ConfigError("sweep() needs a lab file (a path or a shipped lab's name) or a factory "
                          "(seed, params) -> Lab: a Lab already made cannot be given other seeds")
    if callable(lab_or_file):
        if fixed:
            raise ConfigError("overrides= applies to lab files; a factory receives the grid point as params")
        factory: LabFactory = lab_or_file
        return LabSource(getattr(lab_or_file, "__qualname__", repr(lab_or_file)), factory=factory)
    if not isinstance(lab_or_file, str | Path):
        raise ConfigError(f"sweep(): expected a lab file path or a factory, got {type(lab_or_file).__name__}")
    from maillab.cli_lab import resolve_lab

    path = resolve_lab(str(lab_or_file))
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    return LabSource(str(path), text=text)


def _check_points(source: LabSource, fixed: dict[str, Any], points: list[dict[str, Any]]) -> int:
    """Load every grid point as ``maillab run --set`` would; returns the file's seed (1 for a factory)."""
    if source.text is None:
        return 1
    from maillab.lab.loader import load_spec

    if "lab.seed" in points[0]:
        raise ConfigError("--grid lab.seed: the sweep sets the seeds (seed= and replications); do not sweep it")
    base = load_spec(source.name, fixed)
    for point in points:
        try:
            load_spec(source.name, {**fixed, **point})
        except ConfigError as error:
            raise ConfigError(_grid_message(str(error), point)) from None
    return base.seed


def _grid_message(message: str, point: dict[str, Any]) -> str:
    """The loader names overridden keys ``--set key.path``; when that path is (in) a swept key, say
    ``--grid``; for a point of several parameters, also say which point."""
    named = message.removeprefix("--set ").split(":", 1)[0] if message.startswith("--set ") else None
    if named is not None and any(key == named or key.startswith(named + ".") or named.startswith(key + ".")
                                 for key in point):
        message = "--grid " + message.removeprefix("--set ")
    if len(point) > 1:
        message += " (in grid point " + ", ".join(f"{k}={v!r}" for k, v in point.items()) + ")"
    return message


def _until(until: float | str | None) -> float | None:
    if until is None:
        return None
    from maillab.quantities import parse_duration

    try:
        value = parse_duration(until)
    except ValueError as error:
        raise ConfigError(f"until: {error}") from None
    if value <= 0:
        raise ConfigError(f"until must be a positive duration, got {until!r}")
    return value
