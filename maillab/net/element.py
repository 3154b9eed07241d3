"""What links and nodes share: an up flag and the connections pinned to them.

A connection is pinned to the route it was opened on. Every link and node on that route holds it in a
registry (insertion ordered, so resets happen in connection-id order and runs are deterministic). When the
element fails, each registered connection is told to reset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class PathUser(Protocol):
    """A connection as seen by the elements of its path."""

    @property
    def id(self) -> str: ...

    def reset(self, reason: str) -> None: ...


class PathElement:
    """Base of ``Link`` and nodes: up flag, change notification, registry of connections."""

    __slots__ = ("_up", "_on_change", "_users")

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._up = True
        self._on_change = on_change
        self._users: dict[str, PathUser] = {}

    @property
    def is_up(self) -> bool:
        """True while packets can pass."""
        return self._up

    def attach(self, user: PathUser) -> None:
        """Pin a connection to this element."""
        self._users[user.id] = user

    def detach(self, user: PathUser) -> None:
        """Unpin a connection (closed, reset or handshake over)."""
        self._users.pop(user.id, None)

    def _set_up(self, up: bool, reason: str) -> None:
        """Change state, invalidate routes, and reset pinned connections when going down."""
        if up == self._up:
            return
        self._up = up
        self._on_change()
        if not up:
            self._reset_users(reason)

    def _reset_users(self, reason: str) -> None:
        for user in list(self._users.values()):
            user.reset(reason)
