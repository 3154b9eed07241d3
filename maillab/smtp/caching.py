"""A bounded memo for the engine's hot paths: the same input gives back the same immutable value.

Replies and command lines repeat endlessly (``250 2.1.0 Ok``, ``DATA``): parsing each once is enough.
"""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(dict[K, V]):
    """A dict that starts again empty once it holds ``limit`` entries.

    Lookups stay a plain ``dict.get``; memory stays bounded whatever a peer sends; an entry is only ever
    recomputed, never wrong. Store immutable values only: every caller shares them.
    """

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def remember(self, key: K, value: V) -> V:
        """Store ``value`` under ``key`` and return it."""
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value
