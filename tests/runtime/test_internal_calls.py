"""Internal calls: the routes that only our connectors may call refuse anyone without
INTERNAL_TOKEN (X-Topic alone proves nothing), the async path gains no token, the k3s and dev
set-ups hand the token to the connectors, and no log line shows it."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys

import pytest
import requests
import yaml
from rq import SimpleWorker

from autostock.config import DEFAULT_SECRETS_DIR, Secret
from autostock.contract import INTERNAL_HEADER
from autostock.errors import ConfigError
from autostock.logs import JsonFormatter
from autostock.runtime import calls
from autostock.runtime.connectors import HttpInvoker
from autostock.runtime.supervisor import _with_internal_token
from tests.helpers import ROOT, eventually, invoke
from tests.runtime.conftest import calls_of, project_stack, served_gateway
from tests.runtime.test_services import free_port

PROJECT = project_stack()
TRIGGERED = sorted(name for name, fn in PROJECT.functions.items() if fn.topics or fn.schedule)
SECRET_NAME = "autostock-internal-token"


def _a_topic_of(name: str) -> str:
    """A topic a connector would send `name` (a wildcard subject filled in)."""
    fn = PROJECT.functions[name]
    return "cron-function" if fn.schedule else fn.topics[0].replace(">", "005930").replace("*", "005930")


def test_the_stack_has_internal_routes_to_guard():
    assert {"market-clock", "orders", "send-alert"} <= set(TRIGGERED)


@pytest.mark.parametrize("name", TRIGGERED)
def test_a_triggered_function_refuses_a_call_without_the_token(resources, name):
    token = resources.settings.internal_token.reveal()
    forged = {"X-Topic": _a_topic_of(name), "X-Connector": "connector-sdk"}
    for extra in ({}, {INTERNAL_HEADER: ""}, {INTERNAL_HEADER: "guess"}, {INTERNAL_HEADER: token[:-1]},
                  {INTERNAL_HEADER: token + "x"}, {INTERNAL_HEADER: "토큰"}):
        reply = invoke(name, "POST", "/", b"{}", headers={**forged, **extra})
        assert reply.status == 403 and reply.error_code == "not_an_internal_call", (name, extra, reply)


@pytest.mark.parametrize("name", TRIGGERED)
def test_a_triggered_function_is_given_the_token_secret_on_openfaas(name):
    assert SECRET_NAME in PROJECT.functions[name].raw.get("secrets", []), name


def test_k3s_runs_our_connectors_with_the_token_and_the_stack():
    secrets = [d for d in yaml.safe_load_all((ROOT / "k3s" / "secrets.example.yml").read_text()) if d]
    holders = {d["metadata"]["namespace"] for d in secrets if d["metadata"]["name"] == SECRET_NAME}
    assert holders == {"openfaas-fn", "autostock"}  # the functions' and the connectors'
    docs = [d for d in yaml.safe_load_all((ROOT / "k3s" / "connectors.yml").read_text()) if d]
    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 1  # two would deliver everything twice
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"][:2] == ["autostock", "connectors"]
    stack_file = container["command"][container["command"].index("--stack") + 1]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["internal-token"]["secret"]["secretName"] == SECRET_NAME
    assert mounts["internal-token"] == DEFAULT_SECRETS_DIR
    assert stack_file.startswith(mounts["stack"] + "/") and "configMap" in volumes["stack"]


def test_the_connectors_refuse_to_start_without_a_token():
    with pytest.raises(ConfigError, match="INTERNAL_TOKEN"):
        HttpInvoker("http://127.0.0.1:1", Secret(""))


def test_dev_gives_its_children_the_configured_token_or_a_fresh_one(tmp_path):
    base = {"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://r", "NATS_URL": "nats://n",
            "JWT_SECRET": "s", "ENCRYPTION_KEYS": "k", "SECRETS_DIR": str(tmp_path)}
    first, second = _with_internal_token(base), _with_internal_token(base)
    assert len(first["INTERNAL_TOKEN"]) >= 32 and first["INTERNAL_TOKEN"] != second["INTERNAL_TOKEN"]
    assert _with_internal_token({**base, "INTERNAL_TOKEN": "mine"})["INTERNAL_TOKEN"] == "mine"
    (tmp_path / SECRET_NAME).write_text("from-file\n")
    assert "INTERNAL_TOKEN" not in _with_internal_token(base)  # the children read the same file


def test_the_connectors_command_delivers_with_the_token_from_the_secret_file(tmp_path, gateway, test_stack,
                                                                            resources):
    """`autostock connectors` as the k3s Deployment runs it: the token from the OpenFaaS secret
    mount, the triggers from the stack file; SIGTERM stops it."""
    token = resources.settings.internal_token.reveal()
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / SECRET_NAME).write_text(token + "\n")
    s = resources.settings
    env = {**os.environ, "DATABASE_URL": s.database_url.reveal(), "REDIS_URL": s.redis_url.reveal(),
           "NATS_URL": s.nats_url, "NATS_PREFIX": s.nats_prefix, "JWT_SECRET": "x" * 40, "ENCRYPTION_KEYS": "k",
           "SECRETS_DIR": str(secrets_dir), "LOG_LEVEL": "DEBUG"}
    env.pop("INTERNAL_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "autostock.cli", "connectors", "--stack", str(test_stack.path),
                             "--gateway-url", gateway], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Published until the subprocess has subscribed and delivered one.
        got = eventually(lambda: resources.events.publish("rt.events", b"ping")
                                 or calls_of(test_stack.root, "listener"),
                         timeout=30, interval=0.2)
        assert got[0]["internal"] == token and got[0]["topic"] == "rt.events"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert b'"connector call"' in err
    assert token.encode() not in out + err


def test_an_async_call_is_replayed_without_gaining_the_token(resources, callback_sink):
    callback_url, received = callback_sink
    with served_gateway(project_stack("orders")) as url:
        queued = requests.post(f"{url}/async-function/orders", data=b"{}", timeout=10,
                               headers={"X-Topic": "orders.fill", "X-Callback-Url": callback_url})
        assert queued.status_code == 202
        calls.work(resources.settings, burst=True, worker_class=SimpleWorker)
        got = eventually(lambda: received, timeout=10)[0]
    assert got["headers"]["X-Call-Id"] == queued.headers["X-Call-Id"]
    assert got["headers"]["X-Function-Status"] == "403"
    assert json.loads(got["body"])["error"]["code"] == "not_an_internal_call"


def test_a_failed_async_call_logs_none_of_its_headers(resources):
    """rq logs a failed job's arguments; a queued call's are the caller's headers."""
    token = resources.settings.internal_token.reveal()
    call = calls.Call(call_id="c" + os.urandom(8).hex(), function="orders", path="/", query="",
                      headers={INTERNAL_HEADER: token, "Authorization": "Bearer caller-secret-123"}, body=b"{}",
                      gateway_url=f"http://127.0.0.1:{free_port()}")  # nobody listens: the call fails
    calls.enqueue(resources.settings, call)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    rq_log = logging.getLogger("rq.worker")
    rq_log.addHandler(handler)
    try:
        calls.work(resources.settings, burst=True, worker_class=SimpleWorker)
    finally:
        rq_log.removeHandler(handler)
    text = stream.getvalue()
    assert call.call_id in text and "exception raised" in text, text  # the failure was logged
    assert token not in text and "caller-secret-123" not in text
    job = calls.queue(resources.settings).fetch_job(call.call_id)
    assert token not in job.description and "caller-secret-123" not in job.description
    # The failed job stays in rq's registry for a day; it keeps the call, not its credentials.
    kept = json.dumps(job.args)
    assert job.is_failed and call.call_id in kept and '"headers": {}' in kept
    assert token not in kept and "caller-secret-123" not in kept


def test_a_delivered_async_call_keeps_none_of_its_credentials(resources, callback_sink):
    callback_url, received = callback_sink
    with served_gateway(project_stack("orders")) as url:
        queued = requests.post(f"{url}/async-function/orders", data=b"{}", timeout=10,
                               headers={"X-Topic": "orders.fill", "X-Callback-Url": callback_url,
                                        "Authorization": "Bearer caller-secret-456", "X-API-Key": "ak_secret_789"})
        assert queued.status_code == 202
        job = calls.queue(resources.settings).fetch_job(queued.headers["X-Call-Id"])
        assert "caller-secret-456" in json.dumps(job.args)   # queued: the call still needs them
        calls.work(resources.settings, burst=True, worker_class=SimpleWorker)
        eventually(lambda: received, timeout=10)
    job = calls.queue(resources.settings).fetch_job(queued.headers["X-Call-Id"])
    kept = json.dumps(job.args)
    assert job.is_finished and '"X-Topic": "orders.fill"' in kept
    assert "caller-secret-456" not in kept and "ak_secret_789" not in kept
