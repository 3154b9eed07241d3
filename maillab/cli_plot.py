"""``maillab plot DIR``: the figures of a run, drawn from the CSV tables ``maillab run --out DIR`` wrote.

One DIR: every figure that suits the run is written as PNG into DIR (or ``--to DIR2``): latency CDF and
histogram, retry timeline, queue length, queue shape, attempts per message, the sequence diagram of one
connection (when the transcript was kept) and, with ``--lab FILE``, the topology. Several DIRs: the
comparisons (latency CDF and histogram, attempts per message, latency versus offered load), one curve per
DIR, into ``--to``. Bad input raises ``ConfigError`` (exit 2, one line); ``maillab.cli`` wires it in.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from maillab.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd
    from matplotlib.figure import Figure

    from maillab.lab.lab import Lab

EXIT_OK = 0
TABLES = ("messages", "attempts", "transcript", "queue", "sessions", "connections", "failures")
REQUIRED = ("messages", "attempts")

PLOT_EPILOG = """\
examples:
  maillab run backup-mx --out out && maillab plot out              every figure of the run, into out/
  maillab plot out --lab backup-mx --at 1h --to figures            with the topology, its state at 1 h
  maillab plot out --connection c3                                 the sequence diagram of connection c3
  maillab plot postfix/ exim/ --to compare                         one curve per run, into compare/
"""


@dataclass(frozen=True, slots=True)
class Results:
    """The result tables of one run, read back from CSV; the plot functions take it as they take a Lab."""

    path: Path
    messages: pd.DataFrame
    attempts: pd.DataFrame
    transcript: pd.DataFrame
    queue: pd.DataFrame
    sessions: pd.DataFrame
    connections: pd.DataFrame
    failures: pd.DataFrame


def load_results(directory: Path) -> Results:
    """Read the CSV tables of a ``maillab run --out`` directory (messages.csv and attempts.csv must exist;
    a missing other table reads as empty)."""
    import pandas as pd

    if not directory.is_dir():
        raise ConfigError(f"{directory}: no such directory (write one with: maillab run FILE --out {directory})")
    missing = [f"{name}.csv" for name in REQUIRED if not (directory / f"{name}.csv").exists()]
    if missing:
        raise ConfigError(f"{directory}: no {' or '.join(missing)} here (write them with: maillab run FILE --out "
                          f"{directory})")
    tables = {}
    for name in TABLES:
        path = directory / f"{name}.csv"
        try:
            if not path.exists():
                tables[name] = pd.DataFrame()
            elif name == "transcript":  # an empty line of content is a line, not a missing value
                tables[name] = pd.read_csv(path, keep_default_na=False, na_values={"time": [""]},
                                           dtype={"line": str, "connection": str, "direction": str})
            else:
                tables[name] = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path}: not a table maillab wrote ({str(error).splitlines()[0]})") from None
    return Results(directory, **tables)


def add_plot_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = PLOT_EPILOG
    parser.add_argument("dirs", nargs="+", type=Path, metavar="DIR",
                        help="a directory written by 'maillab run --out' (several: compare them)")
    parser.add_argument("--to", type=Path, metavar="DIR2",
                        help="write the PNG files here (default: DIR; needed when comparing several DIRs)")
    parser.add_argument("--lab", metavar="FILE",
                        help="the lab file (or shipped lab name) that was run: also draw its topology")
    parser.add_argument("--at", metavar="TIME",
                        help="the moment for the queue shape and the topology, e.g. 2h (default: when most "
                             "mail was queued)")
    parser.add_argument("--connection", metavar="ID", help="the connection of the sequence diagram, e.g. c3 "
                                                           "(default: the first one in the transcript)")
    parser.add_argument("--dpi", type=int, default=110, help="resolution of the PNG files (default 110)")


def run_plot(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window
    from maillab import plots

    if args.dpi < 20 or args.dpi > 600:
        raise ConfigError(f"--dpi {args.dpi}: expected a resolution between 20 and 600")
    runs = [load_results(directory) for directory in args.dirs]
    if len(runs) > 1:
        if args.to is None:
            raise ConfigError("comparing several runs: say where the figures go with --to DIR2")
        makers = _comparisons(runs)
        out = args.to
    else:
        makers = plots.standard_figures(runs[0], lab=_lab(args.lab), at=_moment(args.at),
                                        connection=args.connection)
        out = args.to or args.dirs[0]
    try:
        written = plots.write_figures(makers, out, dpi=args.dpi)
    except ValueError as error:  # a connection that is not there, a table without what a figure needs
        raise ConfigError(str(error)) from None
    print(f"wrote {out}/: " + " ".join(p.name for p in written))
    return EXIT_OK


def _comparisons(runs: list[Results]) -> dict[str, Callable[[], Figure]]:
    from maillab import plots

    names = [run.path.name or str(run.path) for run in runs]
    if len(set(names)) < len(names):
        names = [str(run.path) for run in runs]
    named = dict(zip(names, runs, strict=True))
    return {
        "compare_latency_cdf.png": lambda: plots.latency_cdf(named),
        "compare_latency_histogram.png": lambda: plots.latency_histogram(named),
        "compare_attempts_per_message.png": lambda: plots.attempts_per_message(named),
        "compare_latency_vs_load.png": lambda: plots.latency_vs_load(named),
    }


def _lab(name: str | None) -> Lab | None:
    """The lab a file describes, built but not run: enough to draw its network."""
    if name is None:
        return None
    from maillab.cli_lab import resolve_lab
    from maillab.lab.lab import Lab

    lab = Lab.from_file(str(resolve_lab(name)))
    lab.build()
    return lab


def _moment(text: str | None) -> float | None:
    if text is None:
        return None
    from maillab.quantities import parse_duration

    try:
        return parse_duration(text)
    except ValueError as error:
        raise ConfigError(f"--at: {error}") from None
