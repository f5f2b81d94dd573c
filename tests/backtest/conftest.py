"""Backtest fixtures: real KRX daily bars from ../shared/data/krx (read in place, never copied)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.helpers import SHARED_DATA

KRX = SHARED_DATA / "krx" / "daily"
STOCKS = ("005930", "000660", "005380", "035420", "051910", "035720", "068270")


def krx_frame(code: str, since: str = "2000-01-01") -> pd.DataFrame:
    frame = pd.read_csv(KRX / f"{code}.csv", index_col="date", parse_dates=True)
    return frame.loc[since:]


@pytest.fixture(scope="session")
def samsung() -> pd.DataFrame:
    # From 2000: the README warns that 1990s adjustments are incomplete.
    return krx_frame("005930")


@pytest.fixture(scope="session")
def universe() -> dict[str, pd.DataFrame]:
    return {code: krx_frame(code, "2015-01-01") for code in STOCKS}
