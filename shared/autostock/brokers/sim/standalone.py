"""`autostock sim <broker>`: run a broker's simulators standalone (for `make run` and by hand).

Each broker registers a starter in `STARTERS`; it builds its servers on a shared exchange,
prints the settings that point adapters at them, and returns the servers to stop on exit.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autostock.brokers.sim.exchange import Exchange
from autostock.brokers.sim.feed import read_daily_bars, read_minute_prints, synthetic_prints

DEFAULT_INSTRUMENTS = {"005930": (70_000, "삼성전자"), "000660": (200_000, "SK하이닉스"),
                       "035420": (200_000, "NAVER")}
DEV_APP = ("PSDEVAPPKEY0000000000000000000000000", "DEVSECRET" * 20, "50000001-01")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("broker", choices=sorted(STARTERS), help="which broker's simulators to run")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="REST port (0 = any free port)")
    parser.add_argument("--paper-port", type=int, default=0)
    parser.add_argument("--ws-port", type=int, default=0)
    parser.add_argument("--app", action="append", default=[], metavar="KEY:SECRET:ACCOUNT[:paper]",
                        help="register an app key (repeatable); a dev key is always registered")
    parser.add_argument("--cash", type=int, default=100_000_000, help="starting cash of each account (KRW)")
    parser.add_argument("--data-dir", default=None, help="a KRX data folder (daily/, minute/) to replay")
    parser.add_argument("--speed", type=float, default=1.0, help="replayed prints per second per symbol")
    parser.add_argument("--sessions", action="store_true", help="enforce KRX session hours (default: always open)")
    parser.add_argument("--seed", type=int, default=0)


def build_exchange(args: argparse.Namespace) -> Exchange:
    ex = Exchange(seed=args.seed, enforce_session=args.sessions)
    data = Path(args.data_dir) if args.data_dir else None
    for symbol, (price, name) in DEFAULT_INSTRUMENTS.items():
        daily = data / "daily" / f"{symbol}.csv" if data else None
        bars = read_daily_bars(daily) if daily and daily.is_file() else []
        minutes = sorted((data / "minute").glob(f"{symbol}_*.csv")) if data and (data / "minute").is_dir() else []
        prints = [p for m in minutes for p in read_minute_prints(m)]
        if prints:  # the close before the replayed day is the base of its price band
            before = [b for b in bars if b.date < prints[0].at.date()]
            price = before[-1].close if before else prints[0].price
        elif bars:
            price = bars[-1].close
        ex.daily[symbol] = bars
        ex.add_instrument(symbol, price, name=name, depth=100)
        ex.feed.load(symbol, prints or synthetic_prints(price, 100_000, seed=args.seed + len(ex.instruments)))
    return ex


def _replay(ex: Exchange, speed: float, stop: threading.Event) -> None:
    while not stop.wait(1.0 / max(speed, 0.01)):
        for symbol in list(ex.instruments):
            ex.replay(symbol)


def start_kis(ex: Exchange, args: argparse.Namespace) -> tuple[list[Any], dict[str, str]]:
    from autostock.brokers.sim.kis import KisApps, KisSim
    from autostock.brokers.sim.kis_ws import KisWebsocketSim
    ws = KisWebsocketSim(ex, seed=args.seed, host=args.host, port=args.ws_port).start()
    apps = KisApps()
    real = KisSim(ex, apps=apps, ws=ws, seed=args.seed, port=args.port).start()
    paper = KisSim(ex, paper=True, apps=apps, ws=ws, seed=args.seed + 1, port=args.paper_port).start()
    for spec in [":".join(DEV_APP), *args.app]:
        key, secret, account, *flag = spec.split(":")
        (paper if flag == ["paper"] else real).add_app(key, secret, account, cash=args.cash)
    print(f"dev app key {DEV_APP[0]} account {DEV_APP[2]} (real host)")
    urls = {"KIS_REAL_URL": real.url, "KIS_PAPER_URL": paper.url, "KIS_WS_URL": ws.url, "KIS_PAPER_WS_URL": ws.url}
    return [real, paper, ws], urls


def _apps(args: argparse.Namespace) -> list[tuple[str, str, str, bool]]:
    """(key, secret, account, paper) for the dev key (paper) and each `--app`."""
    out = []
    for spec in [":".join(DEV_APP) + ":paper", *args.app]:
        key, secret, account, *flag = spec.split(":")
        out.append((key, secret, account, flag == ["paper"]))
    return out


def start_ls(ex: Exchange, args: argparse.Namespace) -> tuple[list[Any], dict[str, str]]:
    """One LS host: the app key decides paper or real (docs/brokers.md §2.1)."""
    from autostock.brokers.sim.ls import LsSim
    sim = LsSim(ex, seed=args.seed, host=args.host, port=args.port).start()
    for key, secret, account, paper in _apps(args):
        sim.add_app(key, secret, account, cash=args.cash, paper=paper)
    print(f"dev app key {DEV_APP[0]} account {DEV_APP[2]} (paper)")
    return [sim], {"LS_URL": sim.url}


def start_kiwoom(ex: Exchange, args: argparse.Namespace) -> tuple[list[Any], dict[str, str]]:
    """Kiwoom's real and paper hosts sharing one app registry (keys fail on the wrong one)."""
    from autostock.brokers.sim.kiwoom import KiwoomSim
    from autostock.brokers.sim.tr_server import SimApp
    apps: dict[str, SimApp] = {}
    real = KiwoomSim(ex, apps=apps, seed=args.seed, host=args.host, port=args.port).start()
    paper = KiwoomSim(ex, paper=True, apps=apps, seed=args.seed + 1, host=args.host, port=args.paper_port).start()
    for key, secret, account, is_paper in _apps(args):
        (paper if is_paper else real).add_app(key, secret, account, cash=args.cash, paper=is_paper)
    print(f"dev app key {DEV_APP[0]} account {DEV_APP[2]} (paper host)")
    return [real, paper], {"KIWOOM_REAL_URL": real.url, "KIWOOM_PAPER_URL": paper.url}


Starter = Callable[[Exchange, argparse.Namespace], tuple[list[Any], dict[str, str]]]
STARTERS: dict[str, Starter] = {"kis": start_kis, "ls": start_ls, "kiwoom": start_kiwoom}


def run(args: argparse.Namespace, *, until: threading.Event | None = None,
        on_ready: Callable[[dict[str, str]], None] | None = None) -> int:
    """Serve until interrupted (or until `until` is set); prints the settings to use."""
    ex = build_exchange(args)
    servers, urls = STARTERS[args.broker](ex, args)
    print("\n".join(f"{k}={v}" for k, v in urls.items()), flush=True)
    if on_ready:
        on_ready(urls)
    stop = until or threading.Event()
    replayer = threading.Thread(target=_replay, args=(ex, args.speed, stop), daemon=True)
    replayer.start()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        stop.set()
    finally:
        stop.set()
        for server in servers:
            server.stop()
    return 0
