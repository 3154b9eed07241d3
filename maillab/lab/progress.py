"""Running a lab with a progress bar over simulated time (tqdm), shown only where someone is watching."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from tqdm import tqdm

if TYPE_CHECKING:
    from maillab.lab.lab import Lab

STEPS = 200


def run_with_progress(lab: Lab, until: float, show: bool | None = None, label: str = "simulating") -> Lab:
    """``lab.run(until)`` in steps, advancing a bar in simulated hours. ``show`` None: only on a terminal."""
    if show is None:
        show = sys.stderr.isatty()
    if not show:
        return lab.run(until=until)
    lab.build()
    start = lab.now
    with tqdm(total=round((until - start) / 3600, 2), unit="sim h", desc=label, file=sys.stderr,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} simulated hours [{elapsed}]") as bar:
        for step in range(1, STEPS + 1):
            lab.run(until=start + (until - start) * step / STEPS)
            bar.update(round((lab.now - start) / 3600, 2) - bar.n)
    return lab
