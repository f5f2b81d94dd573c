"""KRX trading sessions and holidays (exchange-calendars XKRX), in Asia/Seoul time."""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

SEOUL = ZoneInfo("Asia/Seoul")


@functools.lru_cache(maxsize=1)
def _calendar():  # noqa: ANN202 - exchange_calendars' type; imported lazily (slow to build)
    import exchange_calendars as xc
    return xc.get_calendar("XKRX", start="2000-01-01")


def is_session(day: dt.date) -> bool:
    """True when KRX trades on `day`."""
    import pandas as pd
    cal = _calendar()
    ts = pd.Timestamp(day)
    if ts < cal.first_session or ts > cal.last_session:
        return day.weekday() < 5
    return bool(cal.is_session(ts))


@functools.lru_cache(maxsize=512)
def session_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
    """(open, close) of the regular session on `day` in Seoul time, or None on a holiday.

    Cached: every order checks the session, and asking exchange-calendars costs ~0.2 ms.
    """
    import pandas as pd
    if not is_session(day):
        return None
    cal = _calendar()
    ts = pd.Timestamp(day)
    if cal.first_session <= ts <= cal.last_session:
        return (cal.session_open(ts).to_pydatetime().astimezone(SEOUL),
                cal.session_close(ts).to_pydatetime().astimezone(SEOUL))
    return (dt.datetime.combine(day, dt.time(9, 0), SEOUL), dt.datetime.combine(day, dt.time(15, 30), SEOUL))


def is_open(at: dt.datetime) -> bool:
    """True while the regular session is open at `at` (an aware datetime)."""
    local = at.astimezone(SEOUL)
    bounds = session_bounds(local.date())
    return bounds is not None and bounds[0] <= local < bounds[1]


def previous_session(day: dt.date) -> dt.date:
    d = day - dt.timedelta(days=1)
    while not is_session(d):
        d -= dt.timedelta(days=1)
    return d


def next_session(day: dt.date) -> dt.date:
    d = day + dt.timedelta(days=1)
    while not is_session(d):
        d += dt.timedelta(days=1)
    return d


def sessions_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every session date in [start, end]."""
    import pandas as pd
    cal = _calendar()
    first, last = cal.first_session.date(), cal.last_session.date()
    out = [d for d in _days(start, min(end, first - dt.timedelta(days=1))) if is_session(d)]
    lo, hi = max(start, first), min(end, last)
    if lo <= hi:  # one vectorised call instead of a lookup per day (years of history)
        out += [ts.date() for ts in cal.sessions_in_range(pd.Timestamp(lo), pd.Timestamp(hi))]
    out += [d for d in _days(max(start, last + dt.timedelta(days=1)), end) if is_session(d)]
    return out


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
