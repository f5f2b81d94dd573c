"""`autostock` sub-commands of the market data area: import-bars, seed-demo, collector, stream,
market-maintain. The CLI table in `autostock.cli` points here; arguments are parsed there."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from importlib import resources as package_files
from pathlib import Path

from autostock.config import Settings, environment_with, load_settings
from autostock.errors import AppError, ValidationError
from autostock.resources import Resources

DEMO_DAILY = "demo_daily.csv.gz"
DEMO_LISTING = "listing.csv.gz"


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(environment_with(getattr(args, "env_file", None)))


def _data_file(name: str) -> Path:
    return Path(str(package_files.files("autostock") / "data" / name))


def configure_import_bars(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", help="CSV (ours or Kiwoom layout, optionally gzip) or SQLite files")
    p.add_argument("--code", help="the symbol, when the file has no code column and its name is not the code")
    p.add_argument("--table", help="SQLite: the table to read (default: the first with daily bars)")
    p.add_argument("--listing", help="load this KRX listing.csv into the symbol master first")
    p.add_argument("--from-broker", action="store_true", help="fetch daily bars from the platform broker")
    p.add_argument("--codes", default="", help="--from-broker: comma-separated codes")
    p.add_argument("--start", help="--from-broker: first day (YYYY-MM-DD), default 1 year ago")
    p.add_argument("--end", help="--from-broker: last day (YYYY-MM-DD), default today")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _print(report: dict, as_json: bool) -> None:
    from autostock.market.history import format_report
    print(json.dumps(report, ensure_ascii=False, indent=2) if as_json else format_report(report))


def ensure_symbols(res: Resources, listing: str | None = None) -> dict[str, int]:
    """The symbol master (code → price scale), loading `listing` (or the shipped one when the
    table is empty) first."""
    from autostock.market import symbols
    scales = symbols.known_codes(res.pool)
    if listing or not scales:
        symbols.load_listing(res.pool, listing or _data_file(DEMO_LISTING))
        scales = symbols.known_codes(res.pool)
    return scales


def import_bars(res: Resources, args: argparse.Namespace) -> list[dict]:
    """Run one import-bars invocation; returns the reports (one per source)."""
    from autostock.market import history
    scales = ensure_symbols(res, args.listing)
    reports = []
    if args.from_broker:
        from autostock.market.platform import platform_broker
        codes = [c.strip().upper() for c in args.codes.split(",") if c.strip()]
        if not codes:
            raise ValidationError("--from-broker needs --codes", code="missing_codes")
        end = dt.date.fromisoformat(args.end) if args.end else dt.date.today()
        start = dt.date.fromisoformat(args.start) if args.start else end - dt.timedelta(days=365)
        broker = platform_broker(res.settings)
        try:
            reports.append(history.import_rows(res.pool, history.from_broker(broker, codes, start, end, scales)))
        finally:
            broker.close()
    for path in args.paths:
        parsed = history.read_file(path, scales, code=args.code, table=args.table)
        reports.append(history.import_rows(res.pool, parsed))
    if not reports:
        raise ValidationError("give files to import or --from-broker", code="nothing_to_import")
    return reports


def cmd_import_bars(args: argparse.Namespace) -> int:
    settings = _settings(args)
    res = Resources.open(settings)
    try:
        reports = import_bars(res, args)
    except AppError as e:
        print(f"error: {e}")
        return 2
    finally:
        res.close()
    for report in reports:
        _print(report, args.json)
    return 1 if any(r["bad_rows"] for r in reports) else 0


def seed_demo(res: Resources) -> dict:
    """Load the shipped listing and demo daily bars (idempotent; `make run` calls it)."""
    from autostock.market import history, symbols
    symbols.load_listing(res.pool, _data_file(DEMO_LISTING))
    scales = symbols.known_codes(res.pool)
    return history.import_rows(res.pool, history.read_file(_data_file(DEMO_DAILY), scales))


def cmd_seed_demo(args: argparse.Namespace) -> int:
    settings = _settings(args)
    res = Resources.open(settings)
    try:
        report = seed_demo(res)
    finally:
        res.close()
    _print(report, getattr(args, "json", False))
    return 0


def cmd_maintain(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from autostock.market.storage import maintain
    res = Resources.open(settings)
    try:
        print(json.dumps(maintain(res.pool)))
    finally:
        res.close()
    return 0


def cmd_collector(args: argparse.Namespace) -> int:
    """Run the tick collector on the configured KIS realtime endpoint until SIGINT/SIGTERM."""
    import asyncio
    import signal

    from autostock.market import platform
    from autostock.market.collector import Collector, CollectorConfig, listing_of
    settings = _settings(args)
    res = Resources.open(settings)
    try:
        ensure_symbols(res)
        universe = [c.strip().upper() for c in (args.universe or settings.market_universe).split(",") if c.strip()]
        markets, products = listing_of(res.pool, universe)
        config = CollectorConfig(url=settings.kis_ws_url, approval_keys=platform.approval_keys(settings, res.redis),
                                 universe=universe, probe_host=args.host,
                                 probe_port=settings.collector_port if args.port is None else args.port,
                                 markets=markets, products=products)
        collector = Collector(settings, res.pool, config)

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, collector.stop)
            await collector.run()

        asyncio.run(main())
    except AppError as e:
        print(f"error: {e}")
        return 2
    finally:
        res.close()
    return 0


def configure_collector(p: argparse.ArgumentParser) -> None:
    p.add_argument("--universe", help="comma-separated codes (default: MARKET_UNIVERSE)")
    p.add_argument("--host", default="127.0.0.1", help="bind address of /healthz and /metrics")
    p.add_argument("--port", type=int, default=None, help="port of /healthz and /metrics (default COLLECTOR_PORT)")


def cmd_stream(args: argparse.Namespace) -> int:
    """Serve /ws/market on STREAM_HOST:STREAM_PORT until SIGINT/SIGTERM."""
    from autostock.market.stream import serve_forever
    settings = _settings(args)
    overrides = {k: v for k, v in (("stream_host", args.host), ("stream_port", args.port)) if v is not None}
    return serve_forever(settings.with_overrides(**overrides))


def configure_stream(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=None, help="bind address (default STREAM_HOST)")
    p.add_argument("--port", type=int, default=None, help="port (default STREAM_PORT)")
