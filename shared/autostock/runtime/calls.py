"""Asynchronous calls (`/async-function/<name>`), as the OpenFaaS queue-worker makes them.

The gateway puts a `Call` on an rq queue (JSONSerializer, queue name under the deployment's
Redis prefix); a worker runs `deliver`, which POSTs the call to the gateway's
`/function/<name>` and, when the caller gave `X-Callback-Url`, POSTs the function's response
there with `X-Call-Id`, `X-Function-Name`, `X-Function-Status` and `X-Duration-Seconds`.
rq rather than JetStream: long backtests need rq's timeouts and job registry anyway.

A queued call is the caller's request replayed: the worker adds only `X-Call-Id`, never the
internal header (`contract.INTERNAL_HEADER`), so `/async-function/...` is no way around
`require_internal`. The replayed headers (Authorization, and the internal header when an
internal caller sent it) stay out of the job's description and of rq's failure log, and the
job forgets them once the call is made.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import redis
import requests
from rq import Queue, Worker, get_current_job
from rq.serializers import JSONSerializer

from autostock.config import Settings
from autostock.contract import INTERNAL_HEADER
from autostock.logs import request_context

log = logging.getLogger("autostock.calls")

JOB_TIMEOUT = 30 * 60     # seconds; a long backtest is the longest async call
CALL_TIMEOUT = JOB_TIMEOUT - 30
CALLBACK_TIMEOUT = 10
# Hop-by-hop or gateway-only headers are not replayed to the function.
_DROP = {"host", "content-length", "connection", "x-callback-url", "transfer-encoding"}
# What a delivered call's stored job forgets.
_CREDENTIALS = {"authorization", "x-api-key", "cookie", INTERNAL_HEADER.lower()}

_connections: dict[tuple[int, str], redis.Redis] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Call:
    call_id: str
    function: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    gateway_url: str
    callback_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["body"] = base64.b64encode(self.body).decode()
        data["headers"] = {k: v for k, v in self.headers.items() if k.lower() not in _DROP}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Call:
        return cls(**{**data, "body": base64.b64decode(data["body"])})


def queue_name(settings: Settings) -> str:
    return settings.redis_key("functions")


def connection(settings: Settings) -> redis.Redis:
    """A Redis client for rq (bytes, not decoded strings), one per process and URL."""
    url = settings.redis_url.reveal()
    key = (os.getpid(), url)
    with _lock:
        if key not in _connections:
            _connections[key] = redis.Redis.from_url(url, socket_connect_timeout=2)
        return _connections[key]


def queue(settings: Settings) -> Queue:
    return Queue(queue_name(settings), connection=connection(settings), serializer=JSONSerializer)


def enqueue(settings: Settings, call: Call) -> None:
    # rq's default description is the call with its arguments, headers included.
    queue(settings).enqueue_call("autostock.runtime.calls.deliver", args=(call.to_json(),),
                                 timeout=JOB_TIMEOUT, result_ttl=600, failure_ttl=86400,
                                 job_id=call.call_id, description=f"call {call.function}{call.path}")


def deliver(data: dict[str, Any]) -> dict[str, Any]:
    """The rq job: make the call, then report it to the callback. Returns what happened.

    Once the call is made (or has failed), the job keeps no credentials: rq keeps a finished
    job for `result_ttl` and a failed one for `failure_ttl`, and a caller's API key or the
    internal token have no business staying in Redis that long."""
    try:
        return _deliver(Call.from_json(data))
    finally:
        _forget_credentials(data)


def _forget_credentials(data: dict[str, Any]) -> None:
    job = get_current_job()
    if job is None:
        return
    headers = {k: v for k, v in data.get("headers", {}).items() if k.lower() not in _CREDENTIALS}
    job.args = ({**data, "headers": headers},)
    job.save(include_meta=False, include_result=False)


def _deliver(call: Call) -> dict[str, Any]:
    with request_context(call.call_id):
        started = time.monotonic()
        url = f"{call.gateway_url.rstrip('/')}/function/{call.function}{call.path}"
        if call.query:
            url += "?" + call.query
        headers = {**call.headers, "X-Call-Id": call.call_id}
        # The OpenFaaS queue-worker always calls with POST.
        reply = requests.post(url, data=call.body, headers=headers, timeout=CALL_TIMEOUT)
        duration = time.monotonic() - started
        log.info("async call done", extra={"function": call.function, "status": reply.status_code})
        if call.callback_url:
            report = {k: v for k, v in reply.headers.items() if k.lower() not in _DROP}
            report.update({"X-Call-Id": call.call_id, "X-Function-Name": call.function,
                           "X-Function-Status": str(reply.status_code),
                           "X-Duration-Seconds": f"{duration:.6f}"})
            requests.post(call.callback_url, data=reply.content, headers=report, timeout=CALLBACK_TIMEOUT)
        return {"status": reply.status_code, "seconds": round(duration, 3)}


class _WithoutJobArguments(logging.Filter):
    """rq logs a failed job's arguments (`extra=`), and our JSON log lines print extras: a
    call's arguments are the caller's headers, so they are dropped from the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("arguments", None)
        record.__dict__.pop("kwargs", None)
        return True


_WITHOUT_JOB_ARGUMENTS = _WithoutJobArguments()


def work(settings: Settings, *, burst: bool = False, extra_queues: tuple[str, ...] = (),
         worker_class: type[Worker] = Worker) -> None:
    """Run an rq worker on the function queue (and any extra, already prefixed, queues)."""
    logging.getLogger("rq.worker").addFilter(_WITHOUT_JOB_ARGUMENTS)  # the same filter only once
    conn = connection(settings)
    queues = [queue(settings)] + [Queue(q, connection=conn, serializer=JSONSerializer) for q in extra_queues]
    worker_class(queues, connection=conn, serializer=JSONSerializer).work(burst=burst, logging_level="WARNING")
