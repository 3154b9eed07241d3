"""Every benchmark, one table: the engine, the lab against the bare SimPy floor as the work grows, sweep
speed-up with 1 and 2 workers, simulation versus emulation, and a retrying queue in simulated days per second.

    python benchmarks/run_all.py            # about four minutes on a 2-core machine (one simulated day included)
    python benchmarks/run_all.py --full     # adds 10^5 and 10^6 messages and 10 000 hosts (about 40 minutes)

It imports the other scripts' functions (engine.py, throughput.py, sweep.py, simulation_vs_emulation.py)
rather than parsing their printed output. Each throughput size runs in a fresh Python process, so that its
peak resident memory (ru_maxrss: the interpreter and libraries, about 100 MiB, included) belongs to it alone.
The table is Markdown; the README's Performance section keeps a copy.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
Row = tuple[str, str, str, str, str]

QUICK_SIZES = [(1_000, 20), (10_000, 20), (86_400, 20), (1_000, 10), (1_000, 100), (1_000, 1_000)]
FULL_SIZES = [(100_000, 20), (1_000_000, 20), (1_000, 10_000)]


def load(name: str) -> ModuleType:
    """A sibling benchmark script as a module (``bench_<name>``, so ``sweep`` does not shadow anything)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def note(text: str) -> None:
    print(f"[run_all] {text}", file=sys.stderr, flush=True)


def engine_rows(seconds: float) -> list[Row]:
    engine = load("engine")
    rows = []
    for recipients in (1, 10):
        for pipelining in ("auto", "off"):
            rate, count = engine.sessions_per_second(recipients, pipelining, seconds)
            rows.append(("engine (in memory)", f"{recipients} rcpt, pipelining {pipelining}", f"{count / rate:.1f}",
                         f"{rate:,.0f} sessions/s", "greeting to QUIT, 4 KiB body, both engines"))
    return rows


def throughput_case(messages: int, domains: int) -> dict[str, float]:
    """Run in a child process: one lab size, its floor, and this process's peak memory."""
    throughput = load("throughput")
    began = time.perf_counter()
    lab = throughput.measure_lab(domains, messages, 1.0)
    total = time.perf_counter() - began
    floor = throughput.floor(int(lab["steps"]))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {**lab, "build": total - lab["wall"], "floor": floor, "rss_mib": peak}


def share(ratio: float) -> str:
    return f"{ratio:.0%}" if ratio >= 0.095 else f"{ratio:.1%}"


def throughput_rows(sizes: list[tuple[int, int]]) -> list[Row]:
    rows = []
    for messages, domains in sizes:
        note(f"throughput: {messages} messages, {domains} hosts")
        child = subprocess.run([sys.executable, str(HERE / "run_all.py"), "--throughput-case", str(messages),
                                str(domains)], capture_output=True, text=True, check=True)
        r = json.loads(child.stdout.strip().splitlines()[-1])
        day = f" = {r['simulated'] / 86400:.2f} simulated days" if r["simulated"] >= 86400 else ""
        rows.append(("lab vs SimPy floor", f"{messages:,} msgs, {domains:,} hosts{day}", f"{r['wall']:.2f}",
                     f"{r['delivered'] / r['wall']:,.0f} msgs/s",
                     f"CPU {r['cpu']:.2f} s; {share(r['floor'] / r['cpu'])} of floor rate; "
                     f"{r['steps'] / messages:.0f} events/msg; "
                     f"build {r['build']:.1f} s; peak RSS {r['rss_mib']:,.0f} MiB"))
    throughput = load("throughput")
    memory = throughput.measure_memory(20, 2_000)
    rows.append(("lab memory", f"{memory['queued']:,.0f} msgs queued, 20 hosts", "-",
                 f"{memory['per_message'] / 1024:.1f} KiB/queued msg",
                 f"tracemalloc; peak {memory['peak'] / 2**20:.0f} MiB (every destination refusing)"))
    return rows


def sweep_rows(reps: int) -> list[Row]:
    bench = load("sweep")
    from maillab.cli_sweep import parse_grid

    grid = parse_grid(bench.DEFAULT_GRID)
    rows = []
    for row in bench.measure(bench.DEFAULT_LAB, grid, reps, [1, 2]):
        extra = "" if row["workers"] == 0 else (f"; start-up {row['start_up']:.1f} s; "
                                                f"{row['compute_speedup']:.2f}x without it")
        rows.append(("sweep (Dask, local)", f"backup-mx 3x3x{reps} = {row['runs']} runs, {row['label']}",
                     f"{row['wall']:.2f}", f"{row['rate']:.2f} runs/s", f"{row['speedup']:.2f}x vs 1 worker{extra}"))
    return rows


def emulation_rows(messages: int) -> list[Row]:
    bench = load("simulation_vs_emulation")
    result = bench.measure(messages, 4096, [100, 1000], 6.0)
    lab = result["lab"]
    rows = []
    for key, label in (("aiosmtpd", "aiosmtpd + smtplib, session per msg"),
                       ("aiosmtpd_reuse", "aiosmtpd + smtplib, one session"),
                       ("maillab_smtpd", "maillab smtpd + smtplib, session per msg"),
                       ("lab", "the lab, session per msg")):
        r = result[key]
        kind = "simulation" if key == "lab" else "emulation (loopback)"
        ratio = "" if key == "lab" else f"lab is {lab['rate'] / r['rate']:.1f}x faster"
        rows.append((kind, f"{messages:,} msgs of 4 KiB, {label}", f"{r['wall']:.2f}", f"{r['rate']:,.0f} msgs/s",
                     ratio or f"{lab['simulated'] / 3600:.2f} simulated hours"))
    for r in result["queues"]:
        rows.append(("retrying queue", f"{r['messages']:,} msgs, destination refusing, {r['days']:g} d",
                     f"{r['wall']:.2f}", f"{r['days_per_second']:.1f} sim days/s",
                     f"{r['attempts']:,} attempts (Postfix), {r['bounced']:,} bounced at 5 d"))
    return rows


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def table(rows: list[Row]) -> str:
    header: Row = ("benchmark", "case", "wall s", "rate", "notes")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    right = {2, 3}

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.rjust(w) if i in right else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="also 10^5 and 10^6 messages and 10 000 hosts")
    parser.add_argument("--engine-seconds", type=float, default=1.0, help="time per engine case (default 1)")
    parser.add_argument("--sweep-reps", type=int, default=4, help="replications of the sweep benchmark (default 4)")
    parser.add_argument("--messages", type=int, default=1000, help="messages for simulation vs emulation")
    parser.add_argument("--throughput-case", nargs=2, type=int, metavar=("MESSAGES", "HOSTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.throughput_case:
        print(json.dumps(throughput_case(*args.throughput_case)))
        return
    began = time.perf_counter()
    rows: list[Row] = []
    note("engine")
    rows += engine_rows(args.engine_seconds)
    rows += throughput_rows(QUICK_SIZES + (FULL_SIZES if args.full else []))
    note("sweep: in process, 1 worker, 2 workers")
    rows += sweep_rows(args.sweep_reps)
    note("simulation vs emulation")
    rows += emulation_rows(args.messages)
    print(f"maillab benchmarks: {os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}")
    print(table(rows))
    print(f"(all benchmarks: {time.perf_counter() - began:.0f} s wall)")


if __name__ == "__main__":
    main()
