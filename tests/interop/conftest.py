"""Fixtures for talking to real peers over loopback: our smtpd in a thread, aiosmtpd in a thread.

No pytest plugins: servers run on their own event loops in background threads, every socket has a timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from realnet_support import DOMAIN, TIMEOUT, Aiosmtpd, Collector, Telnet, free_port

from maillab.realnet import SmtpdThread


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
def start_smtpd(maildir: Path) -> Iterator[Callable[..., SmtpdThread]]:
    """Start our smtpd for example.test (users alice and bob unless told otherwise) on a free port."""
    started: list[SmtpdThread] = []

    def start(users: list[str] | None = ["alice", "bob"], **options: object) -> SmtpdThread:  # noqa: B006
        server = SmtpdThread(DOMAIN, users, maildir, port=0, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def smtpd(start_smtpd: Callable[..., SmtpdThread]) -> SmtpdThread:
    return start_smtpd()


@pytest.fixture
def aiosmtpd() -> Iterator[Aiosmtpd]:
    handler = Collector()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=TIMEOUT)
    controller.start()
    try:
        yield Aiosmtpd("127.0.0.1", port, handler)
    finally:
        controller.stop()


@pytest.fixture
def telnet() -> Iterator[Callable[[str, int], Telnet]]:
    opened: list[Telnet] = []

    def connect(host: str, port: int) -> Telnet:
        session = Telnet(host, port)
        opened.append(session)
        return session

    yield connect
    for session in opened:
        session.close()

