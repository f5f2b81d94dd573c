import datetime as dt

import pytest

from autostock.market import costs, rules
from autostock.market.calendar import is_open, is_session, previous_session, SEOUL


@pytest.mark.parametrize("price,tick", [
    (1_999, 1), (2_000, 5), (4_995, 5), (5_000, 10), (19_990, 10), (20_000, 50),
    (49_950, 50), (50_000, 100), (199_900, 100), (200_000, 500), (499_500, 500), (500_000, 1_000),
])
def test_unified_tick_table(price, tick):
    assert rules.tick_size(price, "KOSPI") == tick
    assert rules.tick_size(price, "KOSDAQ") == tick


def test_old_tables_before_2023():
    day = dt.date(2022, 6, 1)
    assert rules.tick_size(60_000, "KOSPI", on=day) == 100
    assert rules.tick_size(150_000, "KOSPI", on=day) == 500
    assert rules.tick_size(150_000, "KOSDAQ", on=day) == 100
    assert rules.tick_size(7_000, "KOSPI", product="etf") == 5


def test_grid_and_rounding():
    assert rules.is_on_tick(70_000) and not rules.is_on_tick(70_050)
    assert rules.round_to_tick(70_050, up=True) == 70_100
    assert rules.round_to_tick(70_050, up=False) == 70_000
    assert rules.round_to_tick(49_990, up=True) == 50_000


def test_price_limits_snap_inward():
    # 70,000 × 1.3 = 91,000 (on grid); × 0.7 = 49,000 (on the 50-won grid).
    assert rules.price_limits(70_000) == (49_000, 91_000)
    # 55,500 × 1.3 = 72,150 → 72,100; × 0.7 = 38,850 → 38,850 (50-won grid).
    assert rules.price_limits(55_500) == (38_850, 72_100)
    assert rules.price_limits(10_000, "KONEX") == (8_500, 11_500)
    assert rules.within_limits(91_000, 70_000) and not rules.within_limits(91_100, 70_000)


def test_tax_by_date_and_market():
    assert costs.sell_tax_ppb("KOSPI", dt.date(2026, 3, 1)) == 2_000_000
    assert costs.sell_tax_ppb("KOSDAQ", dt.date(2025, 7, 1)) == 1_500_000
    assert costs.sell_tax_ppb("KOSPI", dt.date(2024, 12, 31)) == 1_800_000
    assert costs.sell_tax_ppb("KONEX", dt.date(2026, 3, 1)) == 1_000_000
    assert costs.sell_tax_ppb("KOSPI", dt.date(2026, 3, 1), product="etf") == 0


def test_costs_truncate_to_the_won():
    model = costs.CostModel()
    # 10 × 70,000 = 700,000: commission 700,000 × 0.0140527% = 98.37 → 98; tax 0.20% = 1,400.
    assert model.costs(700_000, side="sell", market="KOSPI", on=dt.date(2026, 3, 2)) == (98, 1_400)
    assert model.costs(700_000, side="buy", market="KOSPI", on=dt.date(2026, 3, 2)) == (98, 0)
    assert model.commission(0) == 0


def test_calendar():
    assert is_session(dt.date(2026, 11, 24))
    assert not is_session(dt.date(2026, 1, 1))          # New Year's Day
    assert not is_session(dt.date(2026, 11, 28))        # Saturday
    assert is_open(dt.datetime(2026, 11, 24, 10, 0, tzinfo=SEOUL))
    assert not is_open(dt.datetime(2026, 11, 24, 15, 31, tzinfo=SEOUL))
    assert previous_session(dt.date(2026, 11, 30)) == dt.date(2026, 11, 27)
