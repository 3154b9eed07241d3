"""Shared fixtures: every lab a scenario test builds is checked for conservation when the test ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from maillab import Lab


@pytest.fixture
def make_lab() -> Iterator[Callable[..., Lab]]:
    """Build labs through this fixture: after the test, no message may have vanished from any of them."""
    labs: list[Lab] = []

    def make(**kwargs: object) -> Lab:
        lab = Lab(**kwargs)  # type: ignore[arg-type]
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        if lab._built:
            lab.check_conservation()
