"""Backtest engine speed (issue 7) and agreement with the independent loop of the acceptance test.

Figures (each the median of several runs, wall clock, and CPU time of this process beside it,
since other work on a shared 2-core box inflates wall time):
- sma_1m: one SMA(10/30) cross backtest with costs on 1,000,000 synthetic daily bars (≤ 0.1 s)
- grid_100k: an SMA grid, fast 5..50 × slow 20..200 (10 × 10, fast < slow), on 100,000 bars (≤ 0.5 s)
- cold_start: a fresh process importing the engine and running its first backtest (≤ 1 s)
- rotation_200: 10-year top-N momentum rotation over 200 synthetic symbols (≤ 2 s)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def synthetic(n: int, seed: int, start: str = "1990-01-01") -> pd.DataFrame:
    """A log-normal random walk (1% daily) in whole KRW, with opens near the previous close."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0, 0.01, n))
    walk -= np.linspace(0, walk[-1], n)  # no drift over the whole run: prices stay in range
    close = np.maximum((50_000 * np.exp(walk)).astype(np.int64), 1_000)
    opens = np.maximum(close + rng.integers(-200, 201, n), 500)
    return pd.DataFrame({"open": opens, "high": np.maximum(opens, close) + 50,
                         "low": np.minimum(opens, close) - 50, "close": close, "volume": 1_000},
                        index=pd.bdate_range(start, periods=n))


def measure(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    wall, cpu = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return {"median_s": round(statistics.median(wall), 4), "min_s": round(min(wall), 4),
            "cpu_median_s": round(statistics.median(cpu), 4)}


COLD = """
import time
t = time.perf_counter()
import numpy as np, pandas as pd
from autostock.backtest import Backtest
n = 2000
close = (50_000 + np.cumsum(np.random.default_rng(0).integers(-500, 501, n))).astype('int64')
df = pd.DataFrame({'open': close, 'high': close + 100, 'low': close - 100, 'close': close},
                  index=pd.bdate_range('2015-01-01', periods=n))
Backtest(df, 'sma_cross').run(fast=10, slow=30).stats()
print(time.perf_counter() - t)
"""


def cold_start(repeat: int) -> dict[str, float]:
    inside, total = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True, check=True)
        total.append(time.perf_counter() - t)
        inside.append(float(out.stdout.strip()))
    return {"median_s": round(statistics.median(total), 4),
            "import_and_run_median_s": round(statistics.median(inside), 4)}


def agreement() -> dict[str, Any]:
    """The engine against the acceptance test's plain loop on 005930 (2008 onward)."""
    from autostock.backtest import Backtest
    from tests.backtest.conftest import krx_frame
    from tests.backtest.test_parity_loop import loop_sma_cross
    frame = krx_frame("005930", "2008-01-01")
    rows = [(d.strftime("%Y-%m-%d"), int(o), int(c)) for d, o, c in zip(frame.index, frame["open"], frame["close"])]
    want_fills, want_equity = loop_sma_cross(rows, 10, 30, 3_000_000, 0)
    result = Backtest(frame, "sma_cross", cash=3_000_000).run(fast=10, slow=30)
    got = [(f["date"], f["side"], f["quantity"], f["price"], f["commission"], f["tax"]) for f in result.fill_list()]
    return {"fills": len(got), "same_fills": got == want_fills,
            "same_final_equity": result.stats()["final_equity"] == want_equity,
            "final_equity": result.stats()["final_equity"]}


def run(quick: bool) -> dict:
    from autostock.backtest import Backtest, Portfolio, optimize
    repeat = 2 if quick else 7
    out: dict[str, Any] = {}

    big = Backtest(synthetic(100_000 if quick else 1_000_000, 1), "sma_cross", cash=100_000_000)
    out["sma_1m"] = {**measure(lambda: big.run(fast=10, slow=30), repeat), "bars": len(big.bars),
                     "fills": len(big.run(fast=10, slow=30).fills), "target_s": 0.1}

    space = {"fast": {"min": 5, "max": 50, "step": 5}, "slow": {"min": 20, "max": 200, "step": 20}}
    frame = synthetic(10_000 if quick else 100_000, 2)

    def grid() -> None:
        # A fresh engine each time: indicator memos do not carry over between measured runs.
        optimize.optimize(Backtest(frame, "sma_cross", cash=100_000_000), space=space)

    combos = optimize.candidates(Backtest(frame, "sma_cross").strategy_cls, space=space)
    out["grid_100k"] = {**measure(grid, repeat), "bars": len(frame), "combinations": len(combos),
                        "skipped_fast_not_below_slow": 100 - len(combos), "target_s": 0.5}

    out["cold_start"] = {**cold_start(2 if quick else 5), "target_s": 1.0}

    years = 2 if quick else 10
    n = 252 * years
    frames = {f"S{i:03d}": synthetic(n, 100 + i, "2015-01-01") for i in range(200)}

    def rotation() -> None:
        Portfolio(frames, "top_n_momentum", cash=1_000_000_000).run(lookback=120, top=10).stats()

    out["rotation_200"] = {**measure(rotation, max(2, repeat // 2)), "bars": n, "symbols": 200, "target_s": 2.0}
    out["agreement_with_loop"] = agreement()
    return out
