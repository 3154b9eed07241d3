"""Finished runs on disk, so that a sweep interrupted (or extended) later runs only what is missing.

One JSON file per run, ``<cache_dir>/<key>.json``, written atomically (a temporary file, then a rename) by the
process that drives the sweep as each result arrives. The key (``plan.cache_key``) hashes the lab file's
content, the run's overrides, its seed, ``until``, what is measured, maillab's version and the simulation's
source code; the file also keeps the run's parameters in readable form. Floats go through JSON unchanged
(shortest round-trip repr; NaN as ``NaN``), so a resumed sweep gives the very table a fresh one gives. A
missing, unreadable or foreign file is a miss. Old entries are never deleted (remove the directory for that).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from maillab.experiments.runner import RunTask


class RunCache:
    """A directory of finished runs."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The metrics of the run with this key, or None."""
        try:
            record = json.loads(self.path(key).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("key") != key or not isinstance(record.get("metrics"), dict):
            return None
        return dict(record["metrics"])

    def put(self, task: RunTask, metrics: dict[str, Any]) -> None:
        record = {"key": task.key, "lab": task.source.name, "params": dict(task.params),
                  "overrides": dict(task.overrides), "seed": task.seed, "until": task.until, "code": task.code,
                  "metrics": metrics}
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(task.key)
        partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(record, indent=1, default=repr) + "\n")
        os.replace(partial, target)

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*.json")) if self.directory.is_dir() else 0
