"""Market-data fixtures: the symbol master loaded once per run, KRX files from ../shared."""

from __future__ import annotations

import pytest

from autostock.market import symbols
from autostock.market.commands import DEMO_LISTING, _data_file
from tests.helpers import SHARED_DATA

KRX = SHARED_DATA / "krx"


@pytest.fixture(scope="session")
def listed(resources) -> dict[str, int]:
    """The shipped listing (every KRX code) plus the index pseudo-symbols, loaded once."""
    symbols.load_listing(resources.pool, _data_file(DEMO_LISTING))
    return symbols.known_codes(resources.pool)
