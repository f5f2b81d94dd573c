"""`autostock dev` as one process tree: it prints its URL, serves the real stack (health 200
with all three services up) and stops everything on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile

import requests

from autostock import services
from tests.helpers import ROOT, eventually
from tests.runtime.test_services import free_port


def test_dev_serves_the_stack_and_ctrl_c_stops_the_tree(settings, callback_sink):
    callback_url, received = callback_sink
    port = free_port()
    env = {**os.environ, "DATABASE_URL": settings.database_url.reveal(), "REDIS_URL": settings.redis_url.reveal(),
           "NATS_URL": settings.nats_url, "JWT_SECRET": settings.jwt_secret.reveal(),
           "ENCRYPTION_KEYS": settings.encryption_keys.reveal(), "REDIS_PREFIX": settings.redis_prefix,
           "NATS_PREFIX": settings.nats_prefix, "TEST_ADMIN_DATABASE_URL": settings.database_url.reveal(),
           "TEST_REDIS_URL": settings.redis_url.reveal(), "TEST_NATS_URL": settings.nats_url,
           # the extras' own ports, free ones (other runs may be up); no demo login in the repo
           "STREAM_PORT": str(free_port()), "COLLECTOR_PORT": str(free_port()), "APP_ENV": "test"}
    env.pop("INTERNAL_TOKEN", None)  # dev makes one for the run
    with tempfile.TemporaryDirectory() as data:
        proc = subprocess.Popen([sys.executable, "-m", "autostock.cli", "dev", "--port", str(port), "--workers", "1",
                                 "--data-dir", data], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            assert f"http://127.0.0.1:{port}" in line
            r = requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=10)
            assert r.status_code == 200, r.text
            assert all(s["ok"] for s in r.json()["services"].values())
            assert requests.get(f"http://127.0.0.1:{port}/function/admin/api/v1/health", timeout=10).status_code == 200
            # No INTERNAL_TOKEN given: dev made one for its connectors, and a bare X-Topic is refused.
            forged = requests.post(f"http://127.0.0.1:{port}/function/market-clock", timeout=10,
                                   headers={"X-Topic": "cron-function", "X-Connector": "cron-connector"})
            assert forged.status_code == 403, forged.text
            # An async call goes through the real rq worker process and comes back.
            queued = requests.post(f"http://127.0.0.1:{port}/async-function/admin/api/v1/health",
                                   headers={"X-Callback-Url": callback_url}, timeout=10)
            assert queued.status_code == 202
            got = eventually(lambda: received, timeout=30)[0]
            assert got["headers"]["X-Call-Id"] == queued.headers["X-Call-Id"]
            assert got["headers"]["X-Function-Status"] == "405"  # the worker POSTs; health is GET-only
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    eventually(lambda: not services.listening("127.0.0.1", port), timeout=10)
