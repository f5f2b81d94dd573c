"""A no-op function through the local runtime vs a bare Flask app under gunicorn.

Both run with the same gunicorn worker class, worker and thread count, are measured in the
same run, alternately, by wrk at 64 connections (a Lua `done` hook reports p50/p95/p99).
Target: the runtime keeps ≥ 70% of the bare app's requests/s.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from cryptography.fernet import Fernet

from bench._load import require_wrk
from bench._services import free_port

CONNECTIONS = 64
WORKERS = os.cpu_count() or 2
THREADS = 4
TARGET_RATIO = 0.70

NOOP_HANDLER = '''
from autostock.contract import Request, Router

router = Router()


@router.route("GET", "/api/v1/noop")
def noop(req: Request) -> tuple[int, dict]:
    return 200, {"ok": True}


handle = router.handle
'''

BARE_APP = '''
from flask import Flask

app = Flask(__name__)


@app.get("/api/v1/noop")
def noop():
    return {"ok": True}
'''

STACK = """version: 1.0
provider: {name: openfaas}
functions:
  noop:
    lang: autostock-python
    handler: ./functions/noop
    image: bench/noop:dev
    annotations: {com.autostock.routes: /api/v1/noop}
"""

REPORT_LUA = """
done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format('WRKJSON {"rps": %.1f, "requests": %d, "p50_ms": %.3f, "p95_ms": %.3f, ' ..
    '"p99_ms": %.3f, "errors": %d, "non_2xx": %d}\\n', summary.requests / seconds, summary.requests,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def _wait(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def _wrk(url: str, seconds: int, script: Path) -> dict:
    out = subprocess.run(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", str(script), url],
                         capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    return json.loads(line.removeprefix("WRKJSON "))


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    env.setdefault("NATS_URL", "nats://127.0.0.1:4222")
    env.setdefault("JWT_SECRET", Fernet.generate_key().decode())
    env.setdefault("ENCRYPTION_KEYS", Fernet.generate_key().decode())
    return env


def _start(folder: Path, env: dict[str, str]) -> dict[str, tuple[str, subprocess.Popen]]:
    python = sys.executable
    ports = {"runtime": free_port(), "bare": free_port()}
    gunicorn = str(Path(python).with_name("gunicorn"))
    commands = {
        "runtime": [python, "-m", "autostock.runtime", "gateway", "--stack", str(folder / "stack.yml"),
                    "--bind", f"127.0.0.1:{ports['runtime']}", "--workers", str(WORKERS), "--threads", str(THREADS)],
        "bare": [gunicorn, "--bind", f"127.0.0.1:{ports['bare']}", "--workers", str(WORKERS),
                 "--threads", str(THREADS), "--worker-class", "gthread", "--no-control-socket", "bare:app"],
    }
    servers = {}
    for name, argv in commands.items():
        proc = subprocess.Popen(argv, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        servers[name] = (f"http://127.0.0.1:{ports[name]}/api/v1/noop", proc)
    for url, proc in servers.values():
        _wait(url, proc)
    return servers


def run(quick: bool) -> dict:
    require_wrk()
    seconds, rounds = (3, 1) if quick else (10, 3)
    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as tmp:
        folder = Path(tmp)
        (folder / "functions" / "noop").mkdir(parents=True)
        (folder / "functions" / "noop" / "handler.py").write_text(NOOP_HANDLER)
        (folder / "stack.yml").write_text(STACK)
        (folder / "bare.py").write_text(BARE_APP)
        script = folder / "report.lua"
        script.write_text(REPORT_LUA)
        servers = _start(folder, _environment())
        try:
            samples: dict[str, list[dict]] = {"bare": [], "runtime": []}
            for name, (url, _) in servers.items():
                _wrk(url, 1, script)  # warm-up
            for _ in range(rounds):
                for name in ("bare", "runtime"):  # alternate, so drift hits both alike
                    samples[name].append(_wrk(servers[name][0], seconds, script))
        finally:
            for _, proc in servers.values():
                proc.terminate()
                proc.wait(timeout=20)
    result = {name: _median(runs) for name, runs in samples.items()}
    ratio = result["runtime"]["rps"] / result["bare"]["rps"]
    return {"connections": CONNECTIONS, "workers": WORKERS, "threads": THREADS, "seconds": seconds,
            "rounds": rounds, **result, "ratio": round(ratio, 3), "target_ratio": TARGET_RATIO,
            "meets_target": ratio >= TARGET_RATIO}


def _median(runs: list[dict]) -> dict:
    keys = ("rps", "p50_ms", "p95_ms", "p99_ms")
    merged = {k: round(statistics.median(r[k] for r in runs), 3) for k in keys}
    merged["errors"] = sum(r["errors"] + r["non_2xx"] for r in runs)
    return merged
