"""Throughput of the lab against the bare SimPy floor, side by side in one run.

    python benchmarks/throughput.py [--messages 100000] [--domains 20] [--rate 1.0]
    python benchmarks/throughput.py --day      # one simulated day at 1 message/s: 86,400 messages

The lab: ``domains`` mail domains, one MTA each, all on one router (5 ms links); Poisson arrivals at
``rate`` messages per simulated second, random sender and recipient domains, 2 kB messages; every SMTP line
goes through the engine. The floor: plain SimPy processes doing the same number of event-loop steps (the
lab's own count) with no mail logic, timed three times (median). The ratio floor_time / lab_time, both in
CPU seconds, is the lab's share of the floor's rate.
Memory: a second run where every destination refuses, so the queues grow; tracemalloc's figures per
queued message. Wall time and CPU time are both printed: on a shared machine the CPU time is the figure
to compare with a target "on one core".
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import tracemalloc
from collections.abc import Generator
from typing import Any

import simpy

from maillab import Lab


def build_lab(domains: int, messages: int, rate: float, seed: int, refuse: bool = False) -> Lab:
    lab = Lab(seed=seed, transcript_mode="off")
    lab.add_router("core")
    names = [f"d{i:02d}.example" for i in range(domains)]
    for name in names:
        lab.add_host(f"mx.{name}")
        lab.add_link(f"mx.{name}", "core", latency=0.005)
        lab.add_domain(name, mx=f"mx.{name}", users=[f"u{k}" for k in range(10)])
        if refuse:
            lab.fail(f"mx.{name}", "refuse", start=0)
    arrivals = random.Random(seed)
    t = 0.0
    for _ in range(messages):
        t += arrivals.expovariate(rate)
        src, dst = arrivals.sample(names, 2)
        lab.send(t, f"u{arrivals.randrange(10)}@{src}", f"u{arrivals.randrange(10)}@{dst}", size=2000)
    return lab


def floor(steps: int, processes: int = 1000, repeats: int = 3) -> float:
    """CPU seconds for SimPy alone to process ``steps`` events in ``processes`` processes (the median
    of ``repeats`` runs: a run this short is at the mercy of a shared machine)."""
    return statistics.median(_floor_once(steps, processes) for _ in range(repeats))


def _floor_once(steps: int, processes: int) -> float:
    env = simpy.Environment()
    per_process = max(1, steps // processes)

    def worker(rng: random.Random) -> Generator[simpy.Event, Any, None]:
        for _ in range(per_process):
            yield env.timeout(rng.random())

    rng = random.Random(1)
    for _ in range(processes):
        env.process(worker(rng))
    began = time.process_time()
    env.run()
    return time.process_time() - began


def measure_lab(domains: int, messages: int, rate: float) -> dict[str, float]:
    lab = build_lab(domains, messages, rate, seed=1)
    lab.build()
    began, cpu_began = time.perf_counter(), time.process_time()
    lab.run()
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    steps = next(lab.env._eid)  # SimPy's event counter: every event scheduled in the run
    delivered = sum(1 for _ in lab.recorder.delivered)
    return {"wall": wall, "cpu": cpu, "steps": steps, "delivered": delivered, "lines": lab.recorder.lines,
            "simulated": lab.now}


def measure_memory(domains: int, messages: int) -> dict[str, float]:
    tracemalloc.start()
    lab = build_lab(domains, messages, rate=10.0, seed=2, refuse=True)
    lab.build()
    baseline = tracemalloc.get_traced_memory()[0]
    lab.run(until=messages / 10.0 + 1)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    queued = sum(len(mta.queue.jobs()) for mta in lab.mtas.values())
    return {"queued": queued, "per_message": (current - baseline) / max(1, queued), "peak": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--domains", type=int, default=20)
    parser.add_argument("--rate", type=float, default=1.0, help="messages per simulated second")
    parser.add_argument("--memory-messages", type=int, default=20_000)
    parser.add_argument("--day", action="store_true",
                        help="one simulated day at 1 message/s (86,400 messages), against the 60 s target")
    args = parser.parse_args()
    if args.day:
        args.messages, args.rate = 86_400, 1.0

    lab = measure_lab(args.domains, args.messages, args.rate)
    floor_cpu = floor(int(lab["steps"]))
    days = lab["simulated"] / 86400
    print(f"lab: {args.messages} messages, {args.domains} domains, Poisson {args.rate}/s "
          f"-> {lab['simulated'] / 3600:.1f} simulated hours")
    print(f"  wall time                 {lab['wall']:10.2f} s   (CPU {lab['cpu']:.2f} s)")
    if args.day:
        print(f"  one simulated day         {lab['cpu']:10.2f} CPU s   (target < 60 s on one core)")
    print(f"  delivered per wall second {lab['delivered'] / lab['wall']:10.0f}")
    print(f"  SMTP lines per second     {lab['lines'] / lab['wall']:10.0f}   ({lab['lines']} lines)")
    print(f"  SimPy events              {lab['steps']:10.0f}")
    print(f"  simulated days per wall minute {days / (lab['wall'] / 60):6.2f}")
    print(f"floor: the same {lab['steps']:.0f} SimPy events, no mail logic")
    print(f"  CPU time                  {floor_cpu:10.2f} s   (median of 3)")
    print(f"ratio lab rate / floor rate {floor_cpu / lab['cpu']:10.1%}   (target >= 25%; CPU time both)")
    memory = measure_memory(args.domains, args.memory_messages)
    print(f"memory: {memory['queued']:.0f} messages queued (every destination refusing)")
    print(f"  peak traced memory        {memory['peak'] / 2**20:10.1f} MiB")
    print(f"  memory per queued message {memory['per_message'] / 1024:10.1f} KiB")


if __name__ == "__main__":
    main()
