"""One run of a sweep, as a worker sees it: a ``RunTask`` in, the run's metrics out.

A task carries everything needed to rebuild its lab anywhere: the lab file's *text* (not a path, so workers
on other machines need no shared disk) with the run's overrides, or a picklable factory; the seed; ``until``;
and the metric specification. Workers import only this module (and the lab), never Dask's client side.
"""

from __future__ import annotations

import hashlib
import inspect
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maillab.errors import ConfigError

if TYPE_CHECKING:
    from maillab.lab.lab import Lab

LabFactory = Callable[[int, dict[str, Any]], "Lab"]
MetricFunction = Callable[["Lab"], Mapping[str, Any]]
Metrics = Sequence[str] | MetricFunction | Mapping[str, Callable[["Lab"], Any]] | None
Pairs = tuple[tuple[str, Any], ...]

#: the parts of maillab whose code decides a run's results (the faces: CLI, plots, sweeps, do not)
SIMULATION_CODE = ("smtp", "net", "mta", "lab", "quantities.py", "errors.py")


@cache
def code_fingerprint() -> str:
    """A hash of the simulation's source files as this process first sees them: part of every cache key, and
    checked on every worker (a worker running other code than the driver would mix results)."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for part in SIMULATION_CODE:
        path = root / part
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(root).as_posix().encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def callable_fingerprint(function: Callable[..., Any]) -> str:
    """A stable name for a function in cache keys: module, qualified name and a hash of its source (a
    callable without source, e.g. a ``functools.partial``, is named by its ``repr``)."""
    if not (inspect.isfunction(function) or inspect.ismethod(function)):
        return repr(function)
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        source = ""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    return f"{function.__module__}.{function.__qualname__}:{digest}"


@cache
def summary_names() -> tuple[str, ...]:
    """The figures ``lab.summary()`` gives (read from an empty lab, so the list never drifts)."""
    from maillab.lab.lab import Lab

    return tuple(Lab(seed=0).summary())


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """What to measure after a run: ``lab.summary()`` (all of it, or ``select`` names of it), a function
    ``lab -> {name: value}``, or ``named`` functions ``lab -> value``."""

    select: tuple[str, ...] | None = None
    function: MetricFunction | None = None
    named: tuple[tuple[str, Callable[[Lab], Any]], ...] = ()

    @classmethod
    def of(cls, metrics: Metrics) -> MetricSpec:
        if metrics is None:
            return cls()
        if isinstance(metrics, Mapping):
            for name, function in metrics.items():
                if not callable(function):
                    raise ConfigError(f"metrics: {name!r} must map to a function lab -> value, got {function!r}")
            return cls(named=tuple((str(name), function) for name, function in metrics.items()))
        if callable(metrics):
            return cls(function=metrics)
        names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
        unknown = [name for name in names if name not in summary_names()]
        if unknown or not names:
            raise ConfigError(f"metrics: {', '.join(map(repr, unknown)) or 'an empty list'} is not a figure of "
                              f"lab.summary(); known: {', '.join(summary_names())} (or pass a function lab -> dict)")
        return cls(select=names)

    def fingerprint(self) -> str:
        """The part of a cache key that says what was measured (``select`` is applied after the cache)."""
        if self.function is not None:
            return "function:" + callable_fingerprint(self.function)
        if self.named:
            return "named:" + ";".join(f"{name}={callable_fingerprint(f)}" for name, f in self.named)
        return "summary"

    def compute(self, lab: Lab) -> dict[str, Any]:
        if self.function is not None:
            raw = self.function(lab)
            if not isinstance(raw, Mapping):
                raise ConfigError(f"metrics function {callable_fingerprint(self.function)} returned "
                                  f"{type(raw).__name__}, expected a mapping {{name: value}}")
        elif self.named:
            raw = {name: function(lab) for name, function in self.named}
        else:
            raw = lab.summary()
        return {str(name): _scalar(str(name), value) for name, value in raw.items()}

    def select_from(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return dict(values) if self.select is None else {name: values[name] for name in self.select}


def _scalar(name: str, value: Any) -> Any:
    """Metric values as plain Python scalars (JSON in the cache, one column in the table)."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()  # numpy scalars
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise ConfigError(f"metric {name!r}: {value!r} is not a number, a string or None")


@dataclass(frozen=True, slots=True)
class LabSource:
    """A lab file's text (``name`` is its path, for messages), or a factory ``(seed, params) -> Lab``."""

    name: str
    text: str | None = None
    factory: LabFactory | None = None

    def fingerprint(self) -> str:
        if self.factory is not None:
            return "factory:" + callable_fingerprint(self.factory)
        return "file:" + hashlib.sha256((self.text or "").encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RunTask:
    """One run: grid point ``point`` (its ``params``), replication ``replication`` with ``seed``."""

    index: int
    point: int
    replication: int
    seed: int
    params: Pairs
    overrides: Pairs
    until: float | None
    source: LabSource
    metrics: MetricSpec
    key: str
    code: str  # the driver's code_fingerprint()

    def describe(self) -> str:
        params = ", ".join(f"{key}={value!r}" for key, value in self.params)
        return f"grid point {self.point}{f' ({params})' if params else ''}, replication {self.replication} " \
               f"(seed {self.seed})"


def build_run_lab(task: RunTask) -> Lab:
    """The lab of one run, built and ready to ``run()``."""
    from maillab.lab.lab import Lab

    source = task.source
    if source.factory is not None:
        lab = source.factory(task.seed, dict(task.params))
        if not isinstance(lab, Lab) or lab.seed != task.seed:
            raise ConfigError(f"lab factory {callable_fingerprint(source.factory)} must return "
                              f"Lab(seed=seed, ...) for the seed it is given ({task.seed})")
        return lab
    import yaml

    from maillab.lab.builder import build_lab
    from maillab.lab.loader import LabSpec, apply_overrides

    data = yaml.safe_load(source.text or "")  # checked, with these very overrides, before the sweep started
    apply_overrides(data, {**dict(task.overrides), **dict(task.params)})
    return build_lab(LabSpec(data, source.name), task.seed)


def run_one(task: RunTask) -> dict[str, Any]:
    """Build, run to ``task.until`` (None: the lab's duration), check conservation, measure."""
    if task.code != code_fingerprint():
        raise ConfigError(f"this worker runs other maillab code ({code_fingerprint()}) than the process driving the "
                          f"sweep ({task.code}): install the same maillab everywhere (or restart after editing it)")
    lab = build_run_lab(task)
    lab.run(until=task.until)
    lab.check_conservation()
    return task.metrics.compute(lab)
