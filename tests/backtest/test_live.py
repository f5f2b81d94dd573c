"""Live strategies: deploy through the API, evaluate from market-clock, parity with the backtest.

Parity: replaying 005930 day by day (the quote at each session's open, the clock at 09:00:30)
through the live evaluator against the paper broker yields exactly the backtest's fills.
"""

import datetime as dt

import pytest

from autostock import accounts, db, timetable
from autostock.backtest import Backtest, Bars, live
from autostock.market.calendar import SEOUL
from autostock.market.quotes import StoredQuote, write_quote
from tests.backtest.conftest import krx_frame
from tests.helpers import invoke
from tests.orders.conftest import clock, desk  # noqa: F401 - the order tests' clock and desk fixtures

FN = "strategies"


class UpTo:
    """A bar source that holds history (the engine's no-lookahead is tested elsewhere)."""

    def __init__(self, bars: Bars):
        self.bars = bars

    def daily(self, symbol, start=None, end=None):
        keep = int((self.bars.dates <= (end if end else self.bars.dates[-1])).sum())
        return self.bars.head(keep)


@pytest.fixture
def paper_trader(resources, user_factory):
    user = user_factory(daily_trade_limit=10_000)
    account = accounts.create_account(resources, user["id"], broker="paper", is_paper=True, starting_cash=10_000_000)
    with db.service(resources.pool) as conn:
        conn.execute("INSERT INTO symbols (code, name_ko, market) VALUES ('005930', '삼성전자', 'KOSPI')"
                     " ON CONFLICT (code) DO NOTHING")
    yield {**user, "account_id": str(account["id"])}
    # Other tests run the market clock in this database: leave no active deployment behind.
    with db.service(resources.pool) as conn:
        conn.execute("UPDATE strategy_deployments SET status = 'paused' WHERE user_id = %s", (user["id"],))


@pytest.fixture(autouse=True)
def _only_ours(resources):
    """Pause deployments other tests left active, so the reports below count ours only."""
    with db.service(resources.pool) as conn:
        conn.execute("UPDATE strategy_deployments SET status = 'paused' WHERE status = 'active'")


def deploy(trader, **extra):
    body = {"strategy": "sma_cross", "symbol": "005930", "params": {"fast": 5, "slow": 20},
            "capital_cap": 10_000_000, "account_id": trader["account_id"], **extra}
    reply = invoke(FN, "POST", "/api/v1/strategies", body, token=trader["token"])
    assert reply.status == 201, reply
    return reply.json


def open_session(resources, clock, bars, t):
    day = bars.dates[t].astype(object)
    clock.at = dt.datetime.combine(day, dt.time(9, 0, 30), SEOUL)
    write_quote(resources.redis, resources.settings, StoredQuote(
        code="005930", price=int(bars.open[t]), bid=0, ask=0, volume=1_000, prev_close=int(bars.close[t - 1]),
        at=clock.at, market="KOSPI"))


def evaluation_errors(resources):
    with db.service(resources.pool) as conn:
        return [r["error"] for r in conn.execute("SELECT error FROM strategy_evaluations WHERE error IS NOT NULL")]


def paper_fills(resources, account_id):
    with db.service(resources.pool) as conn:
        rows = conn.execute("SELECT filled_at, side, quantity, price, commission, tax FROM fills"
                            " WHERE account_id = %s ORDER BY filled_at, id", (account_id,)).fetchall()
    return [{"date": r["filled_at"].astimezone(SEOUL).date().isoformat(), "side": r["side"],
             "quantity": r["quantity"], "price": r["price"], "commission": r["commission"], "tax": r["tax"]}
            for r in rows]


@pytest.mark.slow
def test_replay_through_live_evaluator_matches_the_backtest(resources, desk, clock, paper_trader):
    bars = Bars.from_frame(krx_frame("005930", "2024-01-01").loc[:"2024-08-31"], symbol="005930")
    deploy(paper_trader, capital_cap=50_000_000)  # above the account's cash: the cash is what binds
    source = UpTo(bars)
    for t in range(1, len(bars)):
        open_session(resources, clock, bars, t)
        report = live.evaluate_due(resources, clock.at, source=source)
        assert report["error"] == 0, (report, evaluation_errors(resources))
        if t == 60:  # a doubled cron call in the same minute changes nothing
            again = live.evaluate_due(resources, clock.at, source=source)
            assert again["already_evaluated"] == 1 and again["orders"] == 0
    expected = Backtest(bars, "sma_cross", cash=10_000_000, slippage_ticks=1).run(fast=5, slow=20).fill_list()
    assert len(expected) >= 10
    assert paper_fills(resources, paper_trader["account_id"]) == expected


def test_deployments_are_the_callers_and_can_be_paused(resources, desk, clock, paper_trader, user_factory):
    other = user_factory()
    dep = deploy(paper_trader)
    assert dep["status"] == "active" and dep["params"] == {"fast": 5, "slow": 20}
    path = f"/api/v1/strategies/{dep['id']}"
    assert invoke(FN, "GET", path, token=other["token"]).status == 404
    assert invoke(FN, "POST", f"{path}/pause", token=other["token"]).status == 404
    assert invoke(FN, "GET", "/api/v1/strategies", token=other["token"]).json["items"] == []
    assert invoke(FN, "POST", f"{path}/pause", token=paper_trader["token"]).json["status"] == "paused"

    bars = Bars.from_frame(krx_frame("005930", "2024-01-01").loc[:"2024-06-30"], symbol="005930")
    open_session(resources, clock, bars, 40)
    assert live.evaluate_due(resources, clock.at, source=UpTo(bars))["evaluated"] == 0
    assert invoke(FN, "POST", f"{path}/resume", token=paper_trader["token"]).json["status"] == "active"
    assert live.evaluate_due(resources, clock.at, source=UpTo(bars))["evaluated"] == 1
    log = invoke(FN, "GET", f"{path}/evaluations", token=paper_trader["token"]).json["items"]
    assert len(log) == 1 and log[0]["bar_date"] == str(bars.dates[39]) and log[0]["error"] is None
    assert invoke(FN, "GET", f"{path}/evaluations", token=other["token"]).status == 404
    assert invoke(FN, "DELETE", path, token=other["token"]).status == 404
    assert invoke(FN, "DELETE", path, token=paper_trader["token"]).status == 200
    assert invoke(FN, "GET", path, token=paper_trader["token"]).status == 404


@pytest.mark.parametrize("change, code", [
    ({"strategy": "top_n_momentum"}, "unsupported_strategy"),
    ({"params": {"fast": 50, "slow": 20}}, "invalid_parameter"),
    ({"capital_cap": 0}, "invalid_argument"),
    ({"schedule": "close"}, "invalid_argument"),
    ({"account_id": "00000000-0000-0000-0000-000000000000"}, "account_not_found"),
])
def test_bad_deployments_are_refused(paper_trader, change, code):
    body = {"strategy": "sma_cross", "symbol": "005930", "capital_cap": 1_000_000, **change}
    reply = invoke(FN, "POST", "/api/v1/strategies", body, token=paper_trader["token"])
    assert reply.error_code == code, reply


def test_clock_task_is_due_only_in_the_session():
    assert live.due(dt.datetime(2024, 6, 3, 9, 1, tzinfo=SEOUL))
    assert not live.due(dt.datetime(2024, 6, 3, 15, 25, tzinfo=SEOUL))
    assert not live.due(dt.datetime(2024, 6, 1, 10, 0, tzinfo=SEOUL))  # Saturday
    assert "strategies" in timetable.registered()


def test_plan_mirrors_the_engine():
    ppb = 1_000_000_000
    assert live.plan(ppb, ppb, 10, 0, 70_000, 70_100, 140_527) is None          # holding, no change
    assert live.plan(0, ppb, 10, 0, 70_000, 70_100, 140_527) == ("sell", 10)
    assert live.plan(0, 0, 0, 10**7, 70_000, 70_100, 140_527) is None
    assert live.plan(ppb, 0, 0, 10_000_000, 70_000, 70_100, 140_527) == ("buy", 142)
    assert live.plan(ppb // 2, ppb, 100, 0, 70_000, 70_100, 140_527) == ("sell", 51)
