"""A backtest request as JSON (API body, rq job argument) and how to carry it out.

`parse_run` / `parse_optimize` check a body completely before anything runs or is queued, so
a bad request changes nothing. `execute_run` / `execute_optimize` turn a checked request into a
JSON-ready result; the sync API path and the rq jobs both call them, so a result is the same
whichever way it ran. `progress(percent)` returning False means "cancelled": stop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from autostock.backtest import optimize as opt
from autostock.backtest.engine import Backtest, strategy_class
from autostock.backtest.metrics import OBJECTIVES
from autostock.backtest.panel import Panel
from autostock.backtest.portfolio import Portfolio
from autostock.backtest.sources import check_symbol
from autostock.contract import require_fields
from autostock.errors import AppError, ValidationError

Progress = Callable[[int], bool]
MAX_SYMBOLS = 300
RUN_FIELDS = {"strategy": str}
RUN_OPTIONAL = {"params": dict, "symbol": str, "symbols": list, "start": str, "end": str, "cash": int,
                "commission_ppb": int, "min_commission": int, "slippage_ticks": int, "benchmark": bool,
                "async": bool}
OPT_OPTIONAL = {**RUN_OPTIONAL, "objective": str, "method": str, "space": dict, "samples": int, "seed": int,
                "walk_forward": dict}


class Cancelled(AppError):
    status, code = 409, "cancelled"


def _date(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError as e:
        raise ValidationError(f"{name} must be a date YYYY-MM-DD, was {value!r}", code="invalid_date",
                              details={"field": name}) from e


def parse_run(body: dict[str, Any], *, optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """A checked, normalised run request (plain JSON)."""
    data = require_fields(body, RUN_FIELDS, optional or RUN_OPTIONAL)
    cls = strategy_class(data["strategy"], allow_import=False)
    symbols = data.get("symbols") or ([data["symbol"]] if data.get("symbol") else [])
    if not symbols:
        raise ValidationError("give a symbol (or symbols for a universe strategy)", code="invalid_symbol",
                              details={"field": "symbol"})
    if len(symbols) > MAX_SYMBOLS:
        raise ValidationError(f"at most {MAX_SYMBOLS} symbols per request", code="invalid_symbol")
    symbols = list(dict.fromkeys(check_symbol(s) for s in symbols))
    spec = {"strategy": cls.name, "params": cls.resolve(data.get("params") or {}), "symbols": symbols,
            "start": _date(data, "start"), "end": _date(data, "end"),
            "cash": data.get("cash", 100_000_000 if cls.universe else 10_000_000),
            "commission_ppb": data.get("commission_ppb", 140_527), "min_commission": data.get("min_commission", 0),
            "slippage_ticks": data.get("slippage_ticks", 0), "benchmark": data.get("benchmark", True),
            "async": data.get("async")}
    if spec["start"] and spec["end"] and spec["start"] > spec["end"]:
        raise ValidationError("start must not be after end", code="invalid_date")
    # Checks cash/costs now (the same checks the engine makes), so a queued job cannot fail on them.
    from autostock.backtest.engine import _int_arg, check_costs
    _int_arg("cash", spec["cash"], 1, 10**15, "whole KRW")
    check_costs(spec["commission_ppb"], spec["min_commission"], spec["slippage_ticks"], "stock")
    return spec


def parse_optimize(body: dict[str, Any]) -> dict[str, Any]:
    spec = parse_run({k: v for k, v in body.items() if k in RUN_OPTIONAL or k in RUN_FIELDS},
                     optional=RUN_OPTIONAL)
    extra = require_fields({k: v for k, v in body.items() if k not in RUN_OPTIONAL and k not in RUN_FIELDS}, {},
                           {k: v for k, v in OPT_OPTIONAL.items() if k not in RUN_OPTIONAL})
    objective = extra.get("objective", "sharpe")
    if objective not in OBJECTIVES:
        raise ValidationError(f"objective must be one of {', '.join(OBJECTIVES)}", code="invalid_argument",
                              details={"field": "objective"})
    spec.update(objective=objective, method=extra.get("method", "grid"), space=extra.get("space"),
                samples=extra.get("samples", 50), seed=extra.get("seed", 0))
    cls = strategy_class(spec["strategy"], allow_import=False)
    spec["combos"] = opt.candidates(cls, method=spec["method"], space=spec["space"], samples=spec["samples"],
                                    seed=spec["seed"])
    if not spec["combos"]:
        raise ValidationError("no valid parameter combination in that space", code="invalid_parameter")
    wf = extra.get("walk_forward")
    if wf is not None:
        wf = require_fields(wf, {"train": int, "test": int}, {"anchored": bool})
        spec["walk_forward"] = {"train": wf["train"], "test": wf["test"], "anchored": wf.get("anchored", False)}
    return spec


def estimated_bars(spec: dict[str, Any]) -> int:
    """Bars × symbols, guessed from the dates (about 250 sessions a year; 25 years when open-ended)."""
    start = dt.date.fromisoformat(spec["start"]) if spec.get("start") else dt.date(2000, 1, 1)
    end = dt.date.fromisoformat(spec["end"]) if spec.get("end") else dt.date.today()
    return max(1, (end - start).days * 250 // 365) * len(spec["symbols"])


def _engine(spec: dict[str, Any], source: Any, progress: Progress | None = None) -> Any:
    cls = strategy_class(spec["strategy"], allow_import=False)
    start = dt.date.fromisoformat(spec["start"]) if spec["start"] else None
    end = dt.date.fromisoformat(spec["end"]) if spec["end"] else None
    costs = {"commission_ppb": spec["commission_ppb"], "min_commission": spec["min_commission"],
             "slippage_ticks": spec["slippage_ticks"], "allow_import": False}
    if not cls.universe:
        return [Backtest(source.daily(s, start, end), cls, cash=spec["cash"], **costs) for s in spec["symbols"]]
    bars = []
    for i, s in enumerate(spec["symbols"]):
        bars.append(source.daily(s, start, end))
        _tick(progress, 40 * (i + 1) // len(spec["symbols"]))
    return Portfolio(Panel.from_bars(bars), cls, cash=spec["cash"], **costs)


def _tick(progress: Progress | None, percent: int) -> None:
    if progress is not None and progress(percent) is False:
        raise Cancelled("the backtest was cancelled")


def execute_run(spec: dict[str, Any], source: Any, progress: Progress | None = None) -> dict[str, Any]:
    """Run the request; one result per symbol for a single-symbol strategy, one for a universe."""
    engine = _engine(spec, source, progress)
    if isinstance(engine, Portfolio):
        _tick(progress, 50)
        result = engine.run(**spec["params"]).to_dict()
        _tick(progress, 95)
        return result
    runs = []
    for i, bt in enumerate(engine):
        market_index = "KOSDAQ" if bt.bars.market.startswith("KOSDAQ") else "KOSPI"
        index = source.index(market_index) if spec["benchmark"] else None
        result = bt.run_with_benchmark(index, **spec["params"]) if spec["benchmark"] else bt.run(**spec["params"])
        runs.append(result.to_dict())
        _tick(progress, 95 * (i + 1) // len(engine))
    return runs[0] if len(runs) == 1 else {"strategy": spec["strategy"], "params": spec["params"], "runs": runs}


def summary_of(result: dict[str, Any]) -> dict[str, Any]:
    """The few figures a listing shows."""
    if "runs" in result:
        return {"runs": len(result["runs"]),
                "final_equity": [r["stats"]["final_equity"] for r in result["runs"]]}
    if "windows" in result:
        return {"windows": len(result["windows"]),
                "out_of_sample_total_return": result["out_of_sample_total_return"]}
    if "best" in result:
        return {"best": result["best"], "evaluated": result["evaluated"]}
    keys = ("total_return", "cagr", "sharpe", "max_drawdown", "trade_count", "final_equity")
    return {k: result["stats"].get(k) for k in keys}


def optimize_engine(spec: dict[str, Any], source: Any) -> Any:
    engine = _engine(spec, source)
    if isinstance(engine, list):
        if len(engine) != 1:
            raise ValidationError("optimise one symbol at a time (or a universe strategy)", code="invalid_symbol")
        engine = engine[0]
    return engine


def execute_optimize(spec: dict[str, Any], source: Any, progress: Progress | None = None,
                     combos: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Grid/random search (or walk-forward) of `combos` (default: all of the request's)."""
    engine = optimize_engine(spec, source)
    combos = spec["combos"] if combos is None else combos
    if spec.get("walk_forward"):
        wf = spec["walk_forward"]
        _tick(progress, 5)
        out = opt.walk_forward(engine, train=wf["train"], test=wf["test"], anchored=wf["anchored"],
                               objective=spec["objective"], method=spec["method"], space=spec["space"],
                               samples=spec["samples"], seed=spec["seed"])
        _tick(progress, 95)
        return out
    step = max(1, len(combos) // 20)

    def each(done: int, total: int) -> bool:
        if done % step == 0 or done == total:
            return progress(95 * done // total) is not False if progress else True
        return True

    rows = opt.evaluate(engine, combos, spec["objective"], each)
    if len(rows) < len(combos):
        raise Cancelled("the optimisation was cancelled")
    return {"objective": spec["objective"], "method": spec["method"], **opt.rank(rows)}
