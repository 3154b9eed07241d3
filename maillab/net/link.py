"""A point-to-point link between two nodes.

Parameters (all fixed at construction):

- ``latency``: one-way propagation delay in seconds (>= 0).
- ``bandwidth``: bytes per second, ``None`` for infinite. A route's bandwidth is its bottleneck (minimum).
- ``loss``: probability in [0, 1) that a segment is lost crossing this link (see ``maillab.net.tcp`` for
  how a loss costs one retransmission timeout).
- ``jitter``: ``None`` or a callable ``rng -> float`` drawn once per segment crossing this link and added
  to its delay (negative draws count as 0; the ordering of a stream is preserved regardless).

``fail()`` takes the link down: routes avoid it from then on and every connection pinned to it is reset
on both sides at once (data in flight is lost). ``restore()`` brings it back for new routes; connections
reset by the failure stay reset.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

from maillab.errors import ConfigError
from maillab.net import validate
from maillab.net.element import PathElement

logger = logging.getLogger(__name__)

Jitter = Callable[[random.Random], float]


class Link(PathElement):
    """A bidirectional link; the same parameters apply in both directions."""

    __slots__ = ("a", "b", "latency", "bandwidth", "loss", "jitter", "_clock")

    def __init__(
        self,
        a: str,
        b: str,
        latency: float,
        *,
        bandwidth: float | None = None,
        loss: float = 0.0,
        jitter: Jitter | None = None,
        on_change: Callable[[], None],
        clock: Callable[[], float],
    ) -> None:
        super().__init__(on_change)
        where = f"link {a}<->{b}"
        self.a = a
        self.b = b
        self.latency = validate.nonneg_finite(latency, f"{where}: latency")
        self.bandwidth = validate.positive_or_none(bandwidth, f"{where}: bandwidth")
        self.loss = validate.probability(loss, f"{where}: loss")
        if jitter is not None and not callable(jitter):
            raise ConfigError(f"{where}: jitter must be None or a callable rng -> float, got {jitter!r}")
        self.jitter = jitter
        self._clock = clock

    @property
    def name(self) -> str:
        return f"{self.a}<->{self.b}"

    def fail(self) -> None:
        """Take the link down and reset every connection routed over it."""
        if self._up:
            logger.info("t=%.6f link %s fails", self._clock(), self.name)
        self._set_up(False, f"link {self.name} failed")

    def restore(self) -> None:
        """Bring the link back up (for new routes)."""
        if not self._up:
            logger.info("t=%.6f link %s restored", self._clock(), self.name)
        self._set_up(True, "")

    def __repr__(self) -> str:
        return f"Link({self.name}, latency={self.latency}, up={self._up})"
