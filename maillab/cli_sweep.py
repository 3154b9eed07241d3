"""``maillab sweep``: a lab file over a grid of parameters, replicated, on Dask; runs.csv and summary.csv.

``add_sweep_arguments`` and ``run_sweep`` are wired in by ``maillab.cli``'s table. Bad input raises
``ConfigError`` (exit 2, one line naming the key, or the file and line); nothing runs until every grid point
has been checked.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from maillab.errors import ConfigError

EXIT_OK = 0

SWEEP_EPILOG = """\
examples:
  maillab sweep backup-mx --grid failures.0.end=1h,2h30m,4h --grid hosts.mx2.b.example.retry=postfix,exim \\
      --reps 10 --out sweep-out
  maillab sweep my-lab.yaml --grid workloads.0.poisson.rate=60/h,120/h --reps 5 --workers 2 --until 6h --out o
  maillab sweep my-lab.yaml --grid lab.warmup=0,1h --reps 20 --scheduler tcp://10.0.0.5:8786 --out o

--grid KEY.PATH=V1,V2,...  values are read as a YAML list: 1h,2h -> "1h", "2h"; true,false -> booleans;
  '[], [{greylisting: {delay: 5m}}]' -> lists (quote the argument). Keys are --set key paths.
Replication k uses seed SEED*1000+k in every grid point (common random numbers).
Writes OUT/runs.csv (one row per run), OUT/summary.csv (mean and 95 % CI per grid point and metric) and
keeps finished runs in OUT/cache (rerun the same command to resume; --no-cache to run everything again).
"""


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a lab file, or the name of a shipped lab (see 'maillab list')")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY.PATH=V1,V2,...",
                        help="a swept parameter and its values (repeat for more; every combination runs)")
    parser.add_argument("--reps", type=int, default=1, metavar="R", help="replications per grid point (default 1)")
    parser.add_argument("--seed", type=int, help="base seed: replication k uses SEED*1000+k (default: the file's)")
    parser.add_argument("--until", help="simulated time to run each lab to, e.g. 6h (default: the file's duration)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override a value in every run, e.g. lab.warmup=1h (repeatable)")
    parser.add_argument("--metrics", metavar="NAME,...", help="figures of the summary to keep (default: all)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N", help="local Dask worker processes (default: one per CPU)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://host:8786")
    parser.add_argument("--out", type=Path, help="write runs.csv and summary.csv here (and the cache in OUT/cache)")
    parser.add_argument("--cache", type=Path, metavar="DIR", help="keep finished runs here (default: OUT/cache)")
    parser.add_argument("--no-cache", action="store_true", help="run everything, keep nothing")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    shown.add_argument("--quiet", action="store_true", help="no progress bar")


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``["a.b=1,2", "c=x,y"]`` -> ``{"a.b": [1, 2], "c": ["x", "y"]}`` (values read as a YAML flow list)."""
    import yaml

    grid: dict[str, list[Any]] = {}
    for item in items:
        key, equals, text = item.partition("=")
        key = key.strip()
        if not equals or not key or not text.strip():
            raise ConfigError(f"--grid {item!r}: expected KEY.PATH=V1,V2,..., e.g. failures.0.end=1h,2h")
        if key in grid:
            raise ConfigError(f"--grid {key}: given twice; list all its values in one --grid")
        try:
            values = yaml.safe_load(f"[{text}]")
        except yaml.YAMLError as error:
            raise ConfigError(f"--grid {key}: {text!r} is not a comma-separated list of YAML values "
                              f"({getattr(error, 'problem', None) or error})") from None
        grid[key] = values
    return grid


def _options(args: argparse.Namespace) -> dict[str, Any]:
    from maillab.cli_lab import _overrides

    if args.reps < 1:
        raise ConfigError(f"--reps {args.reps}: needs at least 1 replication")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: needs at least 1 worker")
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    cache = None if args.no_cache else args.cache or (args.out / "cache" if args.out is not None else None)
    return {"grid": parse_grid(args.grid), "replications": args.reps, "seed": args.seed, "metrics": metrics,
            "until": args.until, "workers": args.workers, "scheduler": args.scheduler, "cache_dir": cache,
            "progress": False if args.quiet else (True if args.progress else None),
            "overrides": _overrides(args.set)}


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def run_sweep(args: argparse.Namespace) -> int:
    from maillab.cli_lab import resolve_lab
    from maillab.lab.loader import first_comment
    from maillab.sweep import summarize, summary_table, sweep

    path = resolve_lab(args.file)
    options = _options(args)
    grid, reps = options["grid"], options["replications"]
    points = 1
    for values in grid.values():
        points *= len(values)
    shape = " x ".join(str(len(v)) for v in grid.values()) or "1"
    print(f"maillab sweep {path}: {first_comment(str(path)) or '(no description)'}")
    print(f"  grid {shape} = {_count(points, 'point')} x {_count(reps, 'replication')} "
          f"= {_count(points * reps, 'run')}")
    runs = sweep(path, **options)
    summary = summarize(runs)
    seeds = sorted(set(runs.seed))
    print(f"  {runs.attrs['runs_executed']} runs executed, {runs.attrs['runs_cached']} from the cache; "
          f"seeds {seeds[0]}..{seeds[-1]}")
    print(f"\nsummary (mean ± half-width of the 95 % confidence interval over {reps} replications; "
          "latencies in seconds):")
    print(summary_table(summary, options["metrics"]))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        runs.to_csv(args.out / "runs.csv", index=False)
        summary.to_csv(args.out / "summary.csv", index=False)
        print(f"\nwrote {args.out}/: runs.csv summary.csv")
    if options["cache_dir"] is not None:
        print(f"finished runs kept in {options['cache_dir']}/ (the same command again reuses them)")
    sys.stdout.flush()
    return EXIT_OK
