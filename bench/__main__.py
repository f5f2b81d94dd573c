"""`make bench`: run every `bench/bench_*.py` module's `run()` and write its JSON result.

Each module exposes `run(quick: bool) -> dict` and is measured on this machine in one go, so
ratios between a run's own figures hold even when absolute numbers drift. `BENCH=name` runs
one module; `QUICK=1` shortens every benchmark (used by the tests that keep them working).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def speed_probe() -> float:
    """Milliseconds a fixed pure-Python loop takes (best of three): how fast this machine runs
    Python at the moment. A shared two-core machine's speed drifts by a quarter within an hour,
    so two runs' figures compare only alongside their probes (taken before and after each
    benchmark)."""
    best = float("inf")
    for _ in range(3):
        started, total = time.perf_counter(), 0
        for i in range(2_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def main() -> int:
    only = os.environ.get("BENCH")
    quick = os.environ.get("QUICK") == "1"
    RESULTS.mkdir(exist_ok=True)
    failed = 0
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if only and name != only:
            continue
        print(f"== {name}", flush=True)
        probe = speed_probe()
        started = time.time()
        try:
            result = importlib.import_module(f"bench.{path.stem}").run(quick=quick)
            status = "ok"
        except Exception:  # one failing benchmark must not hide the others
            traceback.print_exc()
            result, status, failed = {}, "error", failed + 1
        record = {"benchmark": name, "status": status, "quick": quick,
                  "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                  "seconds": round(time.time() - started, 2),
                  "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                              "speed_probe_ms": {"before": probe, "after": speed_probe()}},
                  "result": result}
        (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=2, default=str))
        print(json.dumps(result, indent=2, default=str), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
