"""The lab subcommands of the command line: run, validate, list, schema, transcript.

Each ``run_*`` function takes the parsed arguments and returns the exit status; bad input raises
``ConfigError`` (exit 2, one line). ``maillab.cli`` holds the table that wires them in.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from maillab.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

EXIT_OK = 0


def shipped_lab_dirs() -> list[Path]:
    """Where shipped labs live: ./topologies, then the installed copy (share/maillab/topologies)."""
    return [Path.cwd() / "topologies", Path(sys.prefix) / "share" / "maillab" / "topologies"]


def resolve_lab(name: str) -> Path:
    """A lab file by path, or a shipped lab by name (``classic`` -> topologies/classic.yaml)."""
    path = Path(name)
    if path.exists():
        return path
    for directory in shipped_lab_dirs():
        candidate = directory / f"{name}.yaml"
        if candidate.exists():
            return candidate
    raise ConfigError(f"{name}: no such file, and no shipped lab of that name (see 'maillab list')")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a lab file, or the name of a shipped lab (see 'maillab list')")
    parser.add_argument("--seed", type=int, help="random seed (default: the file's)")
    parser.add_argument("--until", help="simulated time to run to, e.g. 6h (default: the file's duration)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override a value of the file, e.g. hosts.mx.b.example.retry=exim (repeatable)")
    parser.add_argument("--out", type=Path, help="write tables, summary.json and Maildir folders here")
    parser.add_argument("--plots", action="store_true", help="also write the plots as PNG (needs --out)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _overrides(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise ConfigError(f"--set {pair!r}: expected KEY.PATH=VALUE, e.g. lab.seed=7")
        overrides[key.strip()] = value
    return overrides


def run_run(args: argparse.Namespace) -> int:
    from maillab.lab.lab import Lab
    from maillab.lab.progress import run_with_progress
    from maillab.lab.report import summary_table, write_results
    from maillab.quantities import parse_duration

    path = resolve_lab(args.file)
    lab = Lab.from_file(str(path), seed=args.seed, overrides=_overrides(args.set))
    try:
        until = parse_duration(args.until) if args.until else lab.duration or 86400.0
    except ValueError as error:
        raise ConfigError(f"--until: {error}") from None
    print(f"maillab run {path}: {lab.description or '(no description)'}")
    messages, failures = lab.planned
    print(f"  {len(lab.mtas)} hosts, {messages} messages, {failures} failures, seed {lab.seed}")
    run_with_progress(lab, until, show=False if args.quiet else None)
    lab.check_conservation()
    print("\nsummary:")
    print(summary_table(lab))
    if args.out is not None:
        written = write_results(lab, args.out, plots=args.plots)
        print(f"\nwrote {args.out}/: " + " ".join(p.name + ("/" if p.is_dir() else "") for p in written))
    elif args.plots:
        raise ConfigError("--plots needs --out DIR to write the PNG files into")
    return EXIT_OK


def add_file_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a lab file, or the name of a shipped lab")


def run_validate(args: argparse.Namespace) -> int:
    from maillab.lab.loader import validate_file

    path = resolve_lab(args.file)
    spec = validate_file(path)
    data = spec.data
    print(f"{path}: ok: {len(data['hosts'])} hosts, {len(data.get('links') or [])} links, "
          f"{len(data['domains'])} domains, {len(data.get('workloads') or [])} workloads, "
          f"{len(data.get('failures') or [])} failures; runs {spec.duration:g} s")
    return EXIT_OK


def add_no_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run_list(args: argparse.Namespace) -> int:
    from maillab.lab.loader import first_comment

    seen: set[str] = set()
    for directory in shipped_lab_dirs():
        for path in sorted(directory.glob("*.yaml")):
            if path.stem not in seen:
                seen.add(path.stem)
                print(f"  {path.stem:<14} {first_comment(str(path))}")
    if not seen:
        print("no shipped labs found (looked in: " + ", ".join(str(d) for d in shipped_lab_dirs()) + ")")
    else:
        print("\nrun one with: maillab run NAME --out DIR   (e.g. maillab run classic --out out)")
    return EXIT_OK


def run_schema(args: argparse.Namespace) -> int:
    from maillab.lab.schema import schema_json

    print(schema_json())
    return EXIT_OK


def add_transcript_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, help="a directory written by 'maillab run --out'")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--message", help="the connections that carried this Message-ID")
    which.add_argument("--connection", help="one connection, e.g. c3")


def run_transcript(args: argparse.Namespace) -> int:
    import pandas as pd

    transcript_path, attempts_path = args.dir / "transcript.csv", args.dir / "attempts.csv"
    if not transcript_path.exists():
        raise ConfigError(f"{args.dir}: no transcript.csv here (write one with: maillab run FILE --out {args.dir})")
    lines = pd.read_csv(transcript_path, keep_default_na=False)
    if args.connection is None and args.message is None:
        return _list_connections(lines)
    if args.connection is not None:
        wanted = [args.connection]
    else:
        attempts = pd.read_csv(attempts_path)
        wanted = [c for c in dict.fromkeys(attempts[attempts.message_id == args.message].connection) if pd.notna(c)]
        if not wanted:
            raise ConfigError(f"message {args.message!r}: no connection carried it (see attempts.csv)")
    for connection in wanted:
        rows = lines[lines.connection == connection]
        if rows.empty:
            raise ConfigError(f"connection {connection!r}: not in the transcript (was the transcript off?)")
        print(f"--- connection {connection}")
        for row in rows.itertuples():
            print(f"[{row.time:12.6f} s] {row.direction}: {row.line}")
    return EXIT_OK


def _list_connections(lines: pd.DataFrame) -> int:
    summary = lines.groupby("connection", sort=False).agg(start=("time", "min"), lines=("line", "size"))
    print("connections (pick one with --connection ID, or a message with --message ID):")
    for connection, row in summary.head(50).iterrows():
        print(f"  {connection:<8} from {row.start:12.3f} s  {row.lines:4d} lines")
    if len(summary) > 50:
        print(f"  … and {len(summary) - 50} more")
    return EXIT_OK
