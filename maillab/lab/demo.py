"""The demo lab: four domains, a backup MX, an outage, greylisting and an unknown user, under Poisson load.

It is what ``maillab demo`` runs: small enough to finish in seconds, rich enough to show queueing, retries,
MX fallback, greylisting delay and a bounce.
"""

from __future__ import annotations

import random

from maillab.lab.lab import Lab
from maillab.mta.behaviours import Greylisting

HOURS = 3600.0


def build_demo(seed: int = 1, messages: int = 120, duration: float = 2 * HOURS) -> Lab:
    """a.example sends to b.example (primary MX down for 90 min, backup MX queues), c.example
    (greylisting) and d.example (a plain server that knows only some users)."""
    lab = Lab(seed=seed)
    lab.add_router("internet")
    hosts = ["mail.a.example", "mx1.b.example", "mx2.b.example", "mx.c.example", "mx.d.example"]
    for name in hosts:
        lab.add_host(name, behaviours=[Greylisting()] if name == "mx.c.example" else [])
        lab.add_link(name, "internet", latency=0.015, bandwidth=1_250_000)
    lab.roles["mail.a.example"] = "submission"
    lab.add_domain("a.example", mx="mail.a.example", users=["alice", "ann"])
    lab.add_domain("b.example", mx={"mx1.b.example": 10, "mx2.b.example": 20}, users=["bob", "bea"])
    lab.add_domain("c.example", mx="mx.c.example", users=["carol"])
    lab.add_domain("d.example", mx="mx.d.example", users=["dave"])
    lab.fail("mx1.b.example", "down", start=0.25 * HOURS, end=1.75 * HOURS)
    load = random.Random(f"demo-load/{seed}")
    recipients = ["bob@b.example", "bea@b.example", "carol@c.example", "dave@d.example", "dan@d.example"]
    t = 0.0
    for _ in range(messages):
        t += load.expovariate(messages / duration)
        size = int(load.lognormvariate(8.0, 1.0))
        lab.send(t, load.choice(["alice@a.example", "ann@a.example"]), load.choice(recipients), size=size)
    return lab
