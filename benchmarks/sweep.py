"""Sweep speed-up on this machine: the same sweep with 1 and 2 local Dask workers, side by side.

    python benchmarks/sweep.py [--lab backup-mx] [--grid failures.0.end=1h,2h30m,4h ...] [--reps 4]
                               [--workers 1,2]

Each configuration runs the whole sweep from scratch (no cache): start the local cluster, run every grid point
and replication, close the cluster; the wall time includes the cluster's start and each worker's first import
of maillab (a few seconds, measured apart as "start-up"). A run in this process without Dask ("in process")
is the baseline. The tables must be identical whatever the number of workers; the script checks it.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from maillab.cli_sweep import parse_grid
from maillab.sweep import sweep

SHIPPED = Path(__file__).resolve().parent.parent / "topologies"
DEFAULT_LAB = str(SHIPPED / "backup-mx.yaml") if (SHIPPED / "backup-mx.yaml").exists() else "backup-mx"
DEFAULT_GRID = ["failures.0.end=1h,2h30m,4h", "hosts.mx2.b.example.retry=postfix,exim,sendmail"]


def start_up(workers: int) -> float:
    """Wall seconds to start a local cluster of ``workers``, import maillab on each worker, and close it."""
    from maillab.experiments.execute import dask_client

    began = time.perf_counter()
    with dask_client(workers, None, workers) as client:
        client.run(exec, "import maillab.lab.builder")  # what a worker imports before its first run
    return time.perf_counter() - began


def measure(lab: str, grid: dict[str, list[Any]], reps: int, workers: list[int]) -> list[dict[str, Any]]:
    """One row per configuration: label, workers, runs, wall seconds, runs per second, speed-up over 1 worker."""
    rows: list[dict[str, Any]] = []
    reference: pd.DataFrame | None = None
    for count in [0, *workers]:
        began = time.perf_counter()
        runs = sweep(lab, grid, replications=reps, seed=1, progress=False,
                     **({"scheduler": "synchronous"} if count == 0 else {"workers": count}))
        wall = time.perf_counter() - began
        if reference is None:
            reference = runs
        pd.testing.assert_frame_equal(runs, reference)
        fixed = start_up(count) if count else 0.0
        rows.append({"label": "in process" if count == 0 else f"{count} worker{'s' if count > 1 else ''}",
                     "workers": count, "runs": len(runs), "wall": wall, "rate": len(runs) / wall,
                     "start_up": fixed, "compute": wall - fixed})
    one = next((row for row in rows if row["workers"] == 1), None)
    for row in rows:
        row["speedup"] = one["wall"] / row["wall"] if one else float("nan")
        row["compute_speedup"] = one["compute"] / row["compute"] if one else float("nan")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lab", default=DEFAULT_LAB, help="a lab file or shipped lab (default backup-mx)")
    parser.add_argument("--grid", action="append", help="KEY.PATH=V1,V2 (default: a 3 x 3 grid of backup-mx)")
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--workers", default="1,2", help="worker counts to compare (default 1,2)")
    args = parser.parse_args()
    grid = parse_grid(args.grid or DEFAULT_GRID)
    rows = measure(args.lab, grid, args.reps, [int(w) for w in args.workers.split(",")])
    shape = " x ".join(str(len(v)) for v in grid.values())
    print(f"sweep of {Path(args.lab).stem}: {shape} grid x {args.reps} replications = {rows[0]['runs']} runs;"
          f" {os.cpu_count()} CPUs; identical tables in every configuration")
    print(f"{'configuration':<14} {'wall s':>8} {'runs/s':>8} {'speed-up':>9} {'start-up s':>11} "
          f"{'without start-up':>17}")
    for row in rows:
        print(f"{row['label']:<14} {row['wall']:>8.2f} {row['rate']:>8.2f} {row['speedup']:>8.2f}x "
              f"{row['start_up']:>11.2f} {row['compute_speedup']:>16.2f}x")
    print("speed-up: against 1 worker; start-up: starting the cluster and importing maillab on every worker, "
          "measured apart; without start-up: the speed-up of the rest")


if __name__ == "__main__":
    main()
