"""Parameter search over a strategy's declared ranges, and walk-forward validation.

`candidates` lists the parameter sets (grid or seeded random search); `evaluate` runs them on
one engine; `optimize` does both and ranks by an objective. Large sweeps are split into
chunks by `autostock.jobs` and run on rq workers; the chunks call `evaluate` too, so the
numbers are the same whichever way they ran. `walk_forward` optimises on each in-sample window
and reports the out-of-sample figures beside the in-sample ones.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from autostock.backtest import metrics
from autostock.backtest.strategies.base import Param, Strategy
from autostock.errors import ValidationError

MAX_COMBINATIONS = 20_000
BRIEF = ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "calmar", "return_over_drawdown",
         "trade_count", "win_rate", "final_equity")


def _space(cls: type[Strategy], space: Mapping[str, Any] | None) -> dict[str, Param]:
    """Declared params, with ranges narrowed by `space` ({name: [values]} or {name: {min, max, step}})."""
    params = {p.name: p for p in cls.params}
    out = dict(params)
    for name, spec in (space or {}).items():
        if name not in params:
            raise ValidationError(f"unknown parameter {name!r} for {cls.name}", code="invalid_parameter")
        p = params[name]
        if isinstance(spec, list):
            values = tuple(p.check(v) for v in spec)
            if not values:
                raise ValidationError(f"{name}: give at least one value", code="invalid_parameter")
            out[name] = Param(p.name, p.type, p.default, choices=values)
        elif isinstance(spec, Mapping):
            low, high = p.check(spec.get("min", p.low)), p.check(spec.get("max", p.high))
            step = spec.get("step", p.step)
            if low > high or (step is not None and step <= 0):
                raise ValidationError(f"{name}: min must be ≤ max and step > 0", code="invalid_parameter")
            out[name] = Param(p.name, p.type, p.default, low, high, step)
        else:
            raise ValidationError(f"{name}: give a list of values or {{min, max, step}}", code="invalid_parameter")
    return out


def _valid(cls: type[Strategy], values: dict[str, Any]) -> bool:
    try:
        cls.resolve(values)
    except ValidationError:
        return False
    return True


def candidates(cls: type[Strategy], *, method: str = "grid", space: Mapping[str, Any] | None = None,
               samples: int = 50, seed: int = 0) -> list[dict[str, Any]]:
    """Parameter sets to try, in a deterministic order; combinations the strategy refuses are left out."""
    params = _space(cls, space)
    if method == "grid":
        names = list(params)
        grids = [params[n].grid() for n in names]
        total = int(np.prod([len(g) for g in grids])) if grids else 1
        if total > MAX_COMBINATIONS:
            raise ValidationError(f"the grid has {total:,} combinations (limit {MAX_COMBINATIONS:,}); narrow the "
                                  "ranges or use method 'random'", code="too_many_combinations")
        combos = [dict(zip(names, values)) for values in itertools.product(*grids)]
    elif method == "random":
        if not 1 <= samples <= MAX_COMBINATIONS:
            raise ValidationError(f"samples must be within 1..{MAX_COMBINATIONS}", code="invalid_argument")
        rng = random.Random(seed)
        seen: set[tuple] = set()
        combos = []
        for _ in range(samples * 20):
            combo = {n: p.sample(rng) for n, p in params.items()}
            key = tuple(combo.values())
            if key not in seen and _valid(cls, combo):
                seen.add(key)
                combos.append(combo)
            if len(combos) == samples:
                break
    else:
        raise ValidationError("method must be 'grid' or 'random'", code="invalid_argument")
    return [c for c in combos if _valid(cls, c)]


def evaluate(engine: Any, combos: list[dict[str, Any]], objective: str = "sharpe",
             progress: Callable[[int, int], bool] | None = None) -> list[dict[str, Any]]:
    """Run each combination; `progress(done, total)` may return False to stop early."""
    if objective not in metrics.OBJECTIVES:
        raise ValidationError(f"objective must be one of {', '.join(metrics.OBJECTIVES)}", code="invalid_argument")
    rows = []
    for i, combo in enumerate(combos):
        stats = engine.run(**combo).stats()
        rows.append({"params": combo, "objective": metrics.objective(stats, objective),
                     "stats": {k: stats.get(k) for k in BRIEF}})
        if progress is not None and progress(i + 1, len(combos)) is False:
            break
    return rows


def rank(rows: list[dict[str, Any]], limit: int = 20) -> dict[str, Any]:
    """Best first; ties keep the candidate order (deterministic)."""
    order = sorted(range(len(rows)), key=lambda i: (-rows[i]["objective"], i))
    ranked = [rows[i] for i in order]
    for r in ranked:
        r["objective"] = r["objective"] if np.isfinite(r["objective"]) else None
    return {"best": ranked[0] if ranked else None, "top": ranked[:limit], "evaluated": len(rows)}


def optimize(engine: Any, *, objective: str = "sharpe", method: str = "grid",
             space: Mapping[str, Any] | None = None, samples: int = 50, seed: int = 0) -> dict[str, Any]:
    combos = candidates(engine.strategy_cls, method=method, space=space, samples=samples, seed=seed)
    if not combos:
        raise ValidationError("no valid parameter combination in that space", code="invalid_parameter")
    return {"objective": objective, "method": method, **rank(evaluate(engine, combos, objective))}


def _segment_stats(result: Any, start: int, stop: int) -> dict[str, Any]:
    """Figures of bars [start, stop) of a longer run, the equity rebased at bar start − 1."""
    first = max(start - 1, 0)
    equity = result.equity[first:stop]
    dates = result.bars.dates[first:stop] if hasattr(result, "bars") else result.panel.dates[first:stop]
    pnl = np.array([t["pnl"] for t in result.trades()
                    if t["exit_bar"] is not None and start <= t["exit_bar"] < stop], dtype=np.int64)
    invested = (result.shares[first:stop] > 0) if result.shares.ndim == 1 else result.shares[first:stop].sum(1) > 0
    stats = metrics.summary(equity, dates, invested=invested, traded_value=0, pnl=pnl)
    return {k: stats.get(k) for k in BRIEF if k != "final_equity"}


def walk_forward(engine: Any, *, train: int, test: int, objective: str = "sharpe", method: str = "grid",
                 space: Mapping[str, Any] | None = None, samples: int = 30, seed: int = 0,
                 anchored: bool = False) -> dict[str, Any]:
    """Rolling windows: optimise on `train` bars, then trade the best params on the next `test` bars.

    The out-of-sample run starts at the window's in-sample start, so indicators are warm and a
    position may carry over, as it would live; only bars of the test window count out-of-sample.
    """
    n = len(engine.bars) if hasattr(engine, "bars") else len(engine.panel)
    if train < 20 or test < 5 or train + test > n:
        raise ValidationError(f"train ({train}) + test ({test}) bars must fit in the {n} bars, with train ≥ 20 "
                              "and test ≥ 5", code="invalid_argument")
    combos = candidates(engine.strategy_cls, method=method, space=space, samples=samples, seed=seed)
    windows = []
    for k, split in enumerate(range(train, n - test + 1, test)):
        start = 0 if anchored else split - train
        sub = engine.window(start, split + test)
        is_stop = split - start
        scored = []
        for combo in combos:
            stats = _segment_stats(sub.run(**combo), 0, is_stop)
            scored.append((metrics.objective(stats, objective), combo, stats))
        best_score, best, is_stats = max(scored, key=lambda s: s[0])  # first of equals wins
        oos = _segment_stats(sub.run(**best), is_stop, split + test - start)
        dates = sub.bars.dates if hasattr(sub, "bars") else sub.panel.dates
        windows.append({"window": k, "in_sample": {"start": str(dates[0]), "end": str(dates[is_stop - 1]),
                                                   **is_stats},
                        "out_of_sample": {"start": str(dates[is_stop]), "end": str(dates[-1]), **oos},
                        "params": best})
    oos_returns = [w["out_of_sample"]["total_return"] for w in windows]
    return {"objective": objective, "windows": windows,
            "out_of_sample_total_return": float(np.prod([1 + r for r in oos_returns]) - 1) if windows else 0.0}
