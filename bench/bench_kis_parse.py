"""Parse rate of KIS H0STCNT0 trade-tick frames (target ≥ 200,000 records/s on one core).

Frames are built the way the KIS websocket simulator sends them, with 1 and with 10 records
per frame (KIS packs several records into one frame when the market is busy), from a seeded
random walk on the tick grid. Parsing is `kis.frames.parse_trades` (typed TradeTick tuples).
"""

from __future__ import annotations

import random
import time

from autostock.brokers.kis import frames

TARGET = 200_000


def _frames(count: int, per_frame: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    price = 70_000
    out = []
    for _ in range(count):
        rows = []
        for _ in range(per_frame):
            price = max(100, price + rng.choice((-100, 0, 100)))
            row = ["0"] * len(frames.TRADE_COLUMNS)
            row[0], row[1], row[2], row[3], row[4] = "005930", "093015", str(price), "2", str(price - 70_000)
            row[5], row[7], row[8], row[9] = "0.14", "70000", "70500", "69500"
            row[10], row[11], row[12], row[13], row[14] = (str(price + 100), str(price), str(rng.randint(1, 500)),
                                                           "1234567", "86419753000")
            row[21], row[33] = rng.choice("15"), "20260303"
            rows.append(row)
        out.append(frames.build_frame(frames.TRADE_TR, rows))
    return out


def _rate(texts: list[str], per_frame: int, repeats: int) -> float:
    """Best of `repeats`, in CPU seconds of this process (one core), so that other work on a
    shared machine does not count against the parser."""
    parse = frames.parse_trades
    best = 0.0
    for _ in range(repeats):
        started = time.process_time()
        for text in texts:
            parse(text)
        elapsed = max(time.process_time() - started, 1e-9)
        best = max(best, len(texts) * per_frame / elapsed)
    return best


def _split_rate(texts: list[str], per_frame: int) -> float:
    """A floor for any split-based parser on this machine: splitting alone."""
    started = time.process_time()
    for text in texts:
        text.split("|", 3)[3].split("^")
    return len(texts) * per_frame / max(time.process_time() - started, 1e-9)


def run(quick: bool = False) -> dict:
    n = 2_000 if quick else 50_000
    ones, tens = _frames(n, 1, 1), _frames(n // 10, 10, 2)
    single = _rate(ones, 1, 5)
    batched = _rate(tens, 10, 5)
    return {"records_per_second_1_per_frame": round(single), "records_per_second_10_per_frame": round(batched),
            "split_only_records_per_second": round(_split_rate(ones, 1)),
            "target": TARGET, "meets_target": min(single, batched) >= TARGET}


if __name__ == "__main__":
    print(run())
