"""Fixtures every e2e module may ask for."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.async_rig import Collector


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    """What the module's functions report (``async_rig.REPORTING``), over one socket per module."""
    found = Collector()
    yield found
    found.close()
