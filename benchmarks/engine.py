"""Complete SMTP transactions per second through a ConnectionPair in memory (client + server engines).

    python benchmarks/engine.py [--seconds 3]

Each transaction is a whole session: greeting, EHLO, MAIL, RCPT×n, DATA, a 4 KiB dot-stuffed body, QUIT;
every byte is parsed by both engines. Figures for 1 and 10 recipients, with and without PIPELINING.
"""

from __future__ import annotations

import argparse
import time

from maillab.smtp import ClientConfig, ConnectionPair, Transaction

BODY = b"".join(b".line %04d of a four kilobyte message body, some of it dot-stuffed\r\n" % i for i in range(60))[:4096]


def sessions_per_second(recipients: int, pipelining: str, seconds: float) -> tuple[float, int]:
    transaction = Transaction("alice@a.example", tuple(f"u{i}@b.example" for i in range(recipients)), BODY)
    config = ClientConfig("a.example", pipelining)
    count, began = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - began) < seconds:
        for _ in range(50):
            pair = ConnectionPair.build([transaction], config, record=False).run()
            assert len(pair.messages) == 1
        count += 50
    return count / elapsed, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per configuration")
    args = parser.parse_args()
    print(f"{'recipients':>10} {'pipelining':>10} {'sessions/s':>11} {'octets/s':>12}")
    for recipients in (1, 10):
        for pipelining in ("auto", "off"):
            rate, _ = sessions_per_second(recipients, pipelining, args.seconds)
            print(f"{recipients:>10} {pipelining:>10} {rate:>11.0f} {rate * len(BODY):>12.0f}")


if __name__ == "__main__":
    main()
