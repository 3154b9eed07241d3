"""Simulation versus emulation: the same N messages over real loopback sockets and through the lab.

    python benchmarks/simulation_vs_emulation.py [--messages 1000] [--size 4096] [--queue 100,1000] [--days 6]

Emulation: an aiosmtpd server on 127.0.0.1 and Python's smtplib as the client, one SMTP session per message
(connect, EHLO, MAIL, RCPT, DATA, QUIT) and, second line, one session for all of them; third line, maillab's
own engine on real sockets (``maillab smtpd``'s server, storing to Maildir) with the same smtplib client.
Simulation: a two-host lab (one 50 µs link) delivering the same N messages of the same size, one every
simulated second (one session each); every SMTP line goes through both engines, in simulated time.
Retrying queue: ``--queue`` messages for a destination that refuses every connection, retried on Postfix's
schedule until they bounce (5 days), run for ``--days`` simulated days: simulated days per wall second.
"""

from __future__ import annotations

import argparse
import smtplib
import socket
import tempfile
import time
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

from aiosmtpd.controller import Controller

from maillab import Lab
from maillab.realnet import SmtpdThread

SENDER, RECIPIENT = "alice@a.example", "bob@b.example"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Counter:
    """An aiosmtpd handler that accepts every message and counts it."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.count += 1
        return "250 2.0.0 Ok: queued"


def message(size: int) -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = SENDER, RECIPIENT, "benchmark"
    mail.set_content(("x" * 70 + "\n") * max(1, size // 71))
    return mail.as_bytes(policy=SMTP)


def send_all(port: int, count: int, content: bytes, reuse: bool) -> float:
    """Wall seconds for smtplib to deliver ``count`` messages to 127.0.0.1:port."""
    began = time.perf_counter()
    if reuse:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            for _ in range(count):
                client.sendmail(SENDER, [RECIPIENT], content)
    else:
        for _ in range(count):
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                client.sendmail(SENDER, [RECIPIENT], content)
    return time.perf_counter() - began


def emulate_aiosmtpd(count: int, size: int, reuse: bool = False) -> dict[str, float]:
    handler, port = Counter(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    try:
        wall = send_all(port, count, message(size), reuse)
    finally:
        controller.stop()
    assert handler.count == count, (handler.count, count)
    return {"messages": count, "wall": wall, "rate": count / wall}


def emulate_maillab_smtpd(count: int, size: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as maildir, SmtpdThread("b.example", ["bob"], maildir) as server:
        wall = send_all(server.address.port, count, message(size), reuse=False)
    return {"messages": count, "wall": wall, "rate": count / wall}


def two_host_lab(seed: int = 1) -> Lab:
    lab = Lab(seed=seed, transcript_mode="off")
    lab.add_host("out.a.example")
    lab.add_host("mx.b.example")
    lab.add_link("out.a.example", "mx.b.example", latency=0.00005)
    lab.add_domain("a.example", mx="out.a.example", users=["alice"])
    lab.add_domain("b.example", mx="mx.b.example", users=["bob"])
    return lab


def simulate(count: int, size: int) -> dict[str, float]:
    lab = two_host_lab()
    for i in range(count):
        lab.send(float(i), SENDER, RECIPIENT, size=size)
    lab.build()
    began = time.perf_counter()
    lab.run()
    wall = time.perf_counter() - began
    delivered = int((lab.messages.status == "delivered").sum())
    assert delivered == count, (delivered, count)
    return {"messages": count, "wall": wall, "rate": count / wall, "simulated": lab.now}


def retrying_queue(count: int, days: float) -> dict[str, float]:
    """``count`` messages (in the first hour) to a host refusing every connection, run for ``days``."""
    lab = two_host_lab()
    lab.fail("mx.b.example", "refuse", start=0)
    for i in range(count):
        lab.send(3600.0 * i / count, SENDER, RECIPIENT, size=2000)
    lab.build()
    began = time.perf_counter()
    lab.run(until=days * 86400)
    wall = time.perf_counter() - began
    messages = lab.messages
    return {"messages": count, "wall": wall, "days": days, "days_per_second": days / wall,
            "attempts": len(lab.attempts), "bounced": int((messages.status == "bounced").sum())}


def measure(count: int, size: int, queues: list[int], days: float) -> dict[str, Any]:
    return {
        "aiosmtpd": emulate_aiosmtpd(count, size),
        "aiosmtpd_reuse": emulate_aiosmtpd(count, size, reuse=True),
        "maillab_smtpd": emulate_maillab_smtpd(count, size),
        "lab": simulate(count, size),
        "queues": [retrying_queue(queue, days) for queue in queues],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--size", type=int, default=4096, help="message size in octets (default 4096)")
    parser.add_argument("--queue", default="100,1000", help="retrying-queue sizes (default 100,1000)")
    parser.add_argument("--days", type=float, default=6.0, help="simulated days of the retrying queue (default 6)")
    args = parser.parse_args()
    result = measure(args.messages, args.size, [int(q) for q in args.queue.split(",")], args.days)
    lab = result["lab"]
    print(f"{args.messages} messages of {args.size} octets, one SMTP session each unless said otherwise")
    print(f"{'how':<54} {'wall s':>8} {'messages/s':>11} {'lab is':>8}")
    for key, label in (("aiosmtpd", "emulation: aiosmtpd + smtplib, loopback"),
                       ("aiosmtpd_reuse", "emulation: aiosmtpd + smtplib, one session for all"),
                       ("maillab_smtpd", "emulation: maillab smtpd + smtplib, loopback, Maildir"),
                       ("lab", "simulation: the lab (both engines, simulated time)")):
        row = result[key]
        print(f"{label:<54} {row['wall']:>8.2f} {row['rate']:>11.0f} {lab['rate'] / row['rate']:>7.2f}x")
    print(f"(the lab covered {lab['simulated'] / 3600:.2f} simulated hours)")
    print(f"retrying queue: destination refusing every connection, Postfix schedule, {args.days:g} simulated days")
    print(f"{'messages queued':>15} {'attempts':>9} {'bounced':>8} {'wall s':>8} {'simulated days per wall s':>26}")
    for row in result["queues"]:
        print(f"{row['messages']:>15} {row['attempts']:>9} {row['bounced']:>8} {row['wall']:>8.2f} "
              f"{row['days_per_second']:>26.1f}")


if __name__ == "__main__":
    main()
