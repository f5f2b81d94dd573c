import datetime as dt

import pytest

from autostock.alerts.rules import Bar, condition, in_active_hours, should_fire
from tests.alerts.conftest import bar
from tests.alerts.test_delivery import make_alert, send_bar


def b(close, volume=100, prev_close=0):
    return Bar("005930", dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC), close, close, close, close, volume, prev_close)


def test_pct_change_in_integer_basis_points():
    assert condition("pct_change", {"bp": 300}, b(103_000, prev_close=100_000), [], []) is True
    assert condition("pct_change", {"bp": 300}, b(102_900, prev_close=100_000), [], []) is False
    assert condition("pct_change", {"bp": -500}, b(95_000, prev_close=100_000), [], []) is True
    assert condition("pct_change", {"bp": -500}, b(95_100, prev_close=100_000), [], []) is False
    assert condition("pct_change", {"bp": 300}, b(103_000), [], []) is None   # no previous close known


def test_volume_spike_needs_its_lookback():
    params = {"multiple": 3, "lookback": 5}
    assert condition("volume_spike", params, b(1, volume=300), [], [100] * 4) is None
    assert condition("volume_spike", params, b(1, volume=300), [], [100] * 5) is True
    assert condition("volume_spike", params, b(1, volume=299), [], [100] * 5) is False


def test_rsi_and_sma_conditions_use_the_shared_indicators():
    falling = list(range(20_000, 18_000, -100))
    assert condition("indicator", {"name": "rsi_below", "period": 14, "level": 30}, b(17_900), falling, []) is True
    assert condition("indicator", {"name": "rsi_above", "period": 14, "level": 70}, b(17_900), falling, []) is False
    assert condition("indicator", {"name": "sma_cross_down", "fast": 3, "slow": 10}, b(17_900), falling, []) is True
    assert condition("indicator", {"name": "rsi_below", "period": 14, "level": 30}, b(1), [1] * 3, []) is None


def test_active_hours_across_midnight():
    assert in_active_hours(dt.time(23, 0), dt.time(22, 0), dt.time(2, 0))
    assert not in_active_hours(dt.time(12, 0), dt.time(22, 0), dt.time(2, 0))
    assert in_active_hours(dt.time(12, 0), None, None)


@pytest.mark.parametrize("last_state,fired,repeat,since,expected", [
    (False, 0, False, None, True),
    (True, 0, False, None, False),          # no crossing
    (False, 1, False, None, False),         # one-shot already fired
    (False, 1, True, 60, False),            # within cool-down
    (False, 1, True, 3600, True),           # after cool-down
    (None, 0, False, None, True),           # first bar seen, already beyond the line
])
def test_firing_rule(last_state, fired, repeat, since, expected):
    now = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)
    last = now - dt.timedelta(seconds=since) if since else None
    assert should_fire(met=True, last_state=last_state, last_fired_at=last, fired_count=fired, repeat=repeat,
                       cooldown=dt.timedelta(minutes=15), now=now) is expected


def test_rsi_alert_fires_through_send_alert(linked_user, telegram):
    u = linked_user(language="en")
    make_alert(u, symbol="000660", kind="indicator", params={"name": "rsi_below", "period": 14, "level": 30})
    for minute, close in enumerate(range(200_000, 190_000, -500)):
        send_bar(bar("000660", close, minute))
    texts = telegram.texts(u["chat_id"])
    assert len(texts) == 1 and "rsi_below condition met" in texts[0]


def test_outside_active_hours_nothing_fires(linked_user, telegram):
    u = linked_user()
    make_alert(u, active_from="14:00", active_to="15:00")     # bars in the test are at 10:00 KST
    send_bar(bar("005930", 71_000, 0))
    assert telegram.texts(u["chat_id"]) == []
