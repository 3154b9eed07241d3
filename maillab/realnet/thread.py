"""Run a realnet SMTP server on its own event loop in a background thread.

For places that cannot block on ``asyncio.run``: tests, scripts, and notebooks (whose own loop is busy).

    with SmtpdThread(domain="example.test", users=["alice"], maildir=tmp) as server:
        smtplib.SMTP(server.address.host, server.address.port)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from maillab.realnet.endpoint import Endpoint
from maillab.realnet.server import SmtpServer, serve_smtp

START_TIMEOUT = 10.0


class SmtpdThread:
    """``serve_smtp`` in a daemon thread; ``start()`` returns once it listens (or re-raises its error)."""

    def __init__(self, domain: str, users: Iterable[str] | None, maildir: str | Path, *, host: str = "127.0.0.1",
                 port: int = 0, **options: Any) -> None:
        self._args = (host, port, domain, None if users is None else list(users), maildir)
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._server: SmtpServer | None = None
        self._thread = threading.Thread(target=self._run, name="maillab-smtpd", daemon=True)

    @property
    def address(self) -> Endpoint:
        if self._server is None:
            raise RuntimeError("the server is not running")
        return self._server.address

    def start(self) -> SmtpdThread:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise TimeoutError(f"SMTP server thread did not start within {START_TIMEOUT:g} s")
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout: float = START_TIMEOUT) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)

    def __enter__(self) -> SmtpdThread:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(serve_smtp(*self._args, **self._options))
        except BaseException as exc:  # handed to start() in the caller's thread
            self._error = exc
            self._ready.set()
            self._loop.close()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._server.close())
            self._loop.close()
