"""`autostock sim kis` serves the simulators a KIS adapter can use, replaying a price feed."""

from __future__ import annotations

import threading

import requests

from autostock.brokers.sim import standalone
from autostock.cli import build_parser
from tests.helpers import SHARED_DATA, eventually


def test_sim_kis_serves_tokens_and_replays() -> None:
    args = build_parser().parse_args(["sim", "kis", "--data-dir", str(SHARED_DATA / "krx"), "--speed", "50"])
    stop = threading.Event()
    ready: list[dict[str, str]] = []
    worker = threading.Thread(target=standalone.run, args=(args,), kwargs={"until": stop, "on_ready": ready.append},
                              daemon=True)
    worker.start()
    try:
        urls = eventually(lambda: ready and ready[0], timeout=60)
        key, secret, _ = standalone.DEV_APP
        resp = requests.post(urls["KIS_REAL_URL"] + "/oauth2/tokenP", timeout=5,
                             json={"grant_type": "client_credentials", "appkey": key, "appsecret": secret})
        assert resp.status_code == 200 and resp.json()["token_type"] == "Bearer"
        assert urls["KIS_WS_URL"].startswith("ws://127.0.0.1:")
    finally:
        stop.set()
        worker.join(10)
    assert not worker.is_alive()


def test_exchange_from_data_dir_bases_the_band_on_the_replayed_day() -> None:
    args = build_parser().parse_args(["sim", "kis", "--data-dir", str(SHARED_DATA / "krx")])
    ex = standalone.build_exchange(args)
    samsung = ex.instrument("005930")         # minute files from 2025-06-13: base is 06-12's close
    lower, upper = samsung.limits
    assert ex.replay("005930", 3) == 3 and lower <= samsung.last <= upper
    assert ex.instrument("000660").prev_close == ex.daily["000660"][-1].close


def test_sim_ls_and_kiwoom_serve_tokens_for_the_dev_key() -> None:
    key, secret, _ = standalone.DEV_APP
    for broker in ("ls", "kiwoom"):
        args = build_parser().parse_args(["sim", broker, "--speed", "50"])
        stop = threading.Event()
        ready: list[dict[str, str]] = []
        worker = threading.Thread(target=standalone.run, args=(args,), kwargs={"until": stop, "on_ready": ready.append},
                                  daemon=True)
        worker.start()
        try:
            urls = eventually(lambda: ready and ready[0], timeout=60)
            if broker == "ls":
                resp = requests.post(urls["LS_URL"] + "/oauth2/token", timeout=5, data={
                    "grant_type": "client_credentials", "appkey": key, "appsecretkey": secret, "scope": "oob"})
                assert resp.json()["token_type"] == "Bearer"
            else:
                resp = requests.post(urls["KIWOOM_PAPER_URL"] + "/oauth2/token", timeout=5,
                                     headers={"api-id": "au10001"},
                                     json={"grant_type": "client_credentials", "appkey": key, "secretkey": secret})
                assert resp.json()["return_code"] == 0 and resp.json()["token"]
        finally:
            stop.set()
            worker.join(10)
        assert not worker.is_alive()
