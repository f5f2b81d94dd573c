"""The run-backtest function end to end: sync runs, stored results per owner, rq jobs with
progress and cancel, optimisation (sync, chunked over rq) and walk-forward."""

import threading

import numpy as np
import pytest

from autostock import db, jobs
from autostock.backtest import store
from autostock.backtest.strategies import REGISTRY, Param, Strategy
from tests.helpers import invoke

FN = "run-backtest"
SAMSUNG = {"strategy": "sma_cross", "symbol": "005930", "params": {"fast": 10, "slow": 30},
           "start": "2019-01-01", "end": "2024-12-31"}


@pytest.fixture
def alice(user_factory):
    return user_factory()


@pytest.fixture
def bob(user_factory):
    return user_factory()


def rows_of(resources, user_id):
    with db.service(resources.pool) as conn:
        return conn.execute("SELECT count(*) AS n FROM backtest_results WHERE user_id = %s", (user_id,)).fetchone()["n"]


def drain(settings):
    jobs.work(settings, burst=True, simple=True)


def test_catalogue_lists_every_builtin_with_parameter_schemas():
    reply = invoke(FN, "GET", "/api/v1/backtest/strategies")
    assert reply.status == 200
    items = {s["name"]: s for s in reply.json["items"]}
    assert {"buy_and_hold", "sma_cross", "ema_cross", "rsi_reversion", "bollinger", "macd", "donchian",
            "dual_momentum", "top_n_momentum"} <= set(items)
    fast = items["sma_cross"]["params"][0]
    assert fast == {"name": "fast", "type": "int", "default": 10, "min": 2, "max": 250, "step": 1,
                    "help": "fast SMA period (bars)"}


def test_small_run_answers_at_once_and_is_stored_for_its_owner_only(resources, alice, bob):
    reply = invoke(FN, "POST", "/api/v1/backtest/run", SAMSUNG, token=alice["token"])
    assert reply.status == 200, reply
    body = reply.json
    assert body["status"] == "done" and body["progress"] == 100
    result = body["result"]
    assert result["stats"]["trade_count"] > 5 and isinstance(result["stats"]["final_equity"], int)
    assert result["benchmark"]["buy_and_hold"]["final_equity"] > 0
    assert result["benchmark"]["index"]["total_return"] is not None  # KOSPI from the shipped files
    assert len(result["curve"]["equity"]) == result["bars"]
    assert "2020" in result["monthly_returns"]

    got = invoke(FN, "GET", f"/api/v1/backtest/results/{body['id']}", token=alice["token"])
    assert got.status == 200 and got.json["result"]["stats"] == result["stats"]
    assert invoke(FN, "GET", f"/api/v1/backtest/results/{body['id']}", token=bob["token"]).status == 404
    assert invoke(FN, "DELETE", f"/api/v1/backtest/results/{body['id']}", token=bob["token"]).status == 404
    assert [r["id"] for r in invoke(FN, "GET", "/api/v1/backtest/results", token=alice["token"]).json["items"]] \
        == [body["id"]]
    assert invoke(FN, "GET", "/api/v1/backtest/results", token=bob["token"]).json["items"] == []

    chart = invoke(FN, "GET", f"/api/v1/backtest/results/{body['id']}/chart", token=alice["token"])
    assert chart.status == 200 and chart.headers["content-type"] == "image/svg+xml"
    assert chart.body.startswith("<svg") and "drawdown" in chart.body

    assert invoke(FN, "DELETE", f"/api/v1/backtest/results/{body['id']}", token=alice["token"]).status == 200
    assert invoke(FN, "GET", f"/api/v1/backtest/results/{body['id']}", token=alice["token"]).status == 404


def test_same_request_same_result_bit_for_bit(alice):
    a = invoke(FN, "POST", "/api/v1/backtest/run", SAMSUNG, token=alice["token"]).json["result"]
    b = invoke(FN, "POST", "/api/v1/backtest/run", SAMSUNG, token=alice["token"]).json["result"]
    assert a == b


@pytest.mark.parametrize("body, status, code", [
    ({**SAMSUNG, "strategy": "nope"}, 400, "unknown_strategy"),
    ({**SAMSUNG, "strategy": "os:system"}, 400, "unknown_strategy"),
    ({k: v for k, v in SAMSUNG.items() if k != "symbol"}, 400, "invalid_symbol"),
    ({**SAMSUNG, "symbol": "999999"}, 404, "unknown_symbol"),
    ({**SAMSUNG, "symbol": "../etc"}, 400, "invalid_symbol"),
    ({**SAMSUNG, "params": {"fast": 40, "slow": 30}}, 400, "invalid_parameter"),
    ({**SAMSUNG, "cash": 1.5}, 400, "validation_error"),
    ({**SAMSUNG, "cash": 0}, 400, "invalid_argument"),
    ({**SAMSUNG, "start": "2024-13-01"}, 400, "invalid_date"),
    ({**SAMSUNG, "colour": "red"}, 400, "validation_error"),
])
def test_bad_requests_are_refused_and_store_nothing(resources, alice, body, status, code):
    reply = invoke(FN, "POST", "/api/v1/backtest/run", body, token=alice["token"])
    assert (reply.status, reply.error_code) == (status, code), reply
    assert rows_of(resources, alice["id"]) == 0


def test_calls_need_a_token():
    assert invoke(FN, "POST", "/api/v1/backtest/run", SAMSUNG).status == 401
    assert invoke(FN, "GET", "/api/v1/backtest/results").status == 401


# ---- async: an rq job with progress and cancel ----

PROBE: dict = {}


class Probe(Strategy):
    """Buy & hold that, on each symbol, reports the row's progress and may pause the job."""

    name = "test_probe"
    params = (Param("pause", "bool", False),)

    def targets(self, bars):
        row = store.get(PROBE["pool"], PROBE["user"], PROBE["id"], full=False)
        PROBE["seen"].append(row["progress"])
        if self.values["pause"] and len(PROBE["seen"]) == 2:
            PROBE["paused"].set()
            assert PROBE["go"].wait(20)
        return np.ones(len(bars))


@pytest.fixture
def probe(resources, alice):
    REGISTRY[Probe.name] = Probe
    PROBE.clear()
    PROBE.update(pool=resources.pool, user=alice["id"], seen=[], paused=threading.Event(), go=threading.Event())
    yield PROBE
    REGISTRY.pop(Probe.name, None)


def queue_run(alice, probe, **params):
    body = {"strategy": "test_probe", "symbols": ["005930", "000660", "005380"], "start": "2023-01-01",
            "async": True, "benchmark": False, "params": params}
    reply = invoke(FN, "POST", "/api/v1/backtest/run", body, token=alice["token"])
    assert reply.status == 202 and reply.json["status"] == "queued", reply
    probe["id"] = reply.json["id"]
    return reply.json["id"]


def test_async_run_reports_increasing_progress(resources, settings, alice, bob, probe):
    rid = queue_run(alice, probe)
    assert invoke(FN, "GET", f"/api/v1/backtest/results/{rid}", token=bob["token"]).status == 404
    drain(settings)
    seen = probe["seen"]
    assert seen == sorted(seen) and seen[0] < seen[-1] and len(set(seen)) == 3
    done = invoke(FN, "GET", f"/api/v1/backtest/results/{rid}", token=alice["token"]).json
    assert done["status"] == "done" and done["progress"] == 100
    assert [r["symbol"] for r in done["result"]["runs"]] == ["005930", "000660", "005380"]
    assert invoke(FN, "GET", f"/api/v1/backtest/results/{rid}", token=bob["token"]).status == 404


def test_cancel_stops_a_running_job(settings, alice, bob, probe):
    rid = queue_run(alice, probe, pause=True)

    def user_cancels():
        assert probe["paused"].wait(20)
        assert invoke(FN, "POST", f"/api/v1/backtest/results/{rid}/cancel", token=bob["token"]).status == 404
        reply = invoke(FN, "POST", f"/api/v1/backtest/results/{rid}/cancel", token=alice["token"])
        assert reply.status == 200, reply
        probe["go"].set()

    canceller = threading.Thread(target=user_cancels)
    canceller.start()
    drain(settings)  # the worker runs here, in the main thread (rq installs signal handlers)
    canceller.join(20)
    row = invoke(FN, "GET", f"/api/v1/backtest/results/{rid}", token=alice["token"]).json
    assert row["status"] == "cancelled" and row["result"] is None and row["progress"] < 100
    assert len(probe["seen"]) == 2  # the third symbol never ran
    again = invoke(FN, "POST", f"/api/v1/backtest/results/{rid}/cancel", token=alice["token"])
    assert (again.status, again.error_code) == (409, "not_cancellable")


def test_cancel_before_a_worker_picks_it_up(settings, alice, probe):
    rid = queue_run(alice, probe)
    assert invoke(FN, "POST", f"/api/v1/backtest/results/{rid}/cancel", token=alice["token"]).status == 200
    drain(settings)
    assert probe["seen"] == []


# ---- optimisation ----

GRID = {"strategy": "sma_cross", "symbol": "005930", "start": "2015-01-01", "end": "2024-12-31",
        "objective": "sharpe", "space": {"fast": [5, 10, 20], "slow": {"min": 30, "max": 120, "step": 30}}}


def test_optimize_sync_and_chunked_over_rq_agree(settings, alice, monkeypatch):
    sync = invoke(FN, "POST", "/api/v1/backtest/optimize", GRID, token=alice["token"])
    assert sync.status == 200, sync
    best = sync.json["result"]["best"]
    assert sync.json["result"]["evaluated"] == 12 and best["objective"] is not None
    tops = [r["objective"] for r in sync.json["result"]["top"]]
    assert tops == sorted(tops, reverse=True)

    from autostock.backtest import service
    monkeypatch.setattr(service, "CHUNK", 5)  # 12 combinations → 3 chunk jobs + 1 reduce
    queued = invoke(FN, "POST", "/api/v1/backtest/optimize", {**GRID, "async": True}, token=alice["token"])
    assert queued.status == 202
    drain(settings)
    done = invoke(FN, "GET", f"/api/v1/backtest/results/{queued.json['id']}", token=alice["token"]).json
    assert done["status"] == "done", done
    assert done["result"]["best"] == best and done["result"]["top"] == sync.json["result"]["top"]


def test_random_search_is_seeded(alice):
    body = {**GRID, "method": "random", "samples": 6, "seed": 7,
            "space": {"fast": {"min": 3, "max": 40}, "slow": {"min": 41, "max": 200}}}
    a = invoke(FN, "POST", "/api/v1/backtest/optimize", body, token=alice["token"]).json["result"]
    b = invoke(FN, "POST", "/api/v1/backtest/optimize", body, token=alice["token"]).json["result"]
    assert a == b and a["evaluated"] == 6


def test_walk_forward_reports_in_and_out_of_sample_per_window(alice):
    body = {**GRID, "walk_forward": {"train": 500, "test": 250}}
    reply = invoke(FN, "POST", "/api/v1/backtest/optimize", body, token=alice["token"])
    assert reply.status == 200, reply
    windows = reply.json["result"]["windows"]
    assert len(windows) >= 5
    for w in windows:
        for side in ("in_sample", "out_of_sample"):
            assert {"start", "end", "total_return", "sharpe", "max_drawdown", "cagr"} <= set(w[side])
        assert w["in_sample"]["end"] < w["out_of_sample"]["start"]
        assert w["params"]["fast"] < w["params"]["slow"]
    assert reply.json["kind"] == "walk_forward"


def test_universe_strategy_runs_over_symbols(alice):
    body = {"strategy": "top_n_momentum", "symbols": ["005930", "000660", "005380", "035420", "051910"],
            "start": "2016-01-01", "end": "2020-12-31", "params": {"top": 2, "lookback": 60}, "async": False}
    reply = invoke(FN, "POST", "/api/v1/backtest/run", body, token=alice["token"])
    assert reply.status == 200, reply
    result = reply.json["result"]
    assert result["symbols"] == body["symbols"] and result["stats"]["trade_count"] > 0
