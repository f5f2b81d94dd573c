"""`autostock sim kis` serves the simulators a KIS adapter can use, replaying a price feed."""

from __future__ import annotations

import threading

import requests

from autostock.brokers.sim import standalone
from autostock.cli import build_parser
from tests.helpers import SHARED_DATA, eventually


def test_sim_kis_serves_tokens_and_replays(capsys: object) -> None:
    args = build_parser().parse_args(["sim", "kis", "--data-dir", str(SHARED_DATA / "krx"), "--speed", "50"])
    stop = threading.Event()
    worker = threading.Thread(target=standalone.run, args=(args,), kwargs={"until": stop}, daemon=True)
    worker.start()
    try:
        out = eventually(lambda: capsys.readouterr().out)  # type: ignore[attr-defined]
        urls = dict(line.split("=", 1) for line in out.splitlines() if line.startswith("KIS_"))
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
