"""The market clock's timetable: named tasks, each with a rule for when it is due.

`market-clock` is invoked by the cron connector every minute (an internal call, checked by
`contract.require_internal`) and calls `run_due`, which runs every registered task whose rule
says "now" (Seoul time). A task that fails is reported and logged; the others still run, and
the next minute tries again, so every task must be idempotent. Areas add tasks by registering
them in a module listed in `TASK_MODULES`.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autostock.errors import AppError
from autostock.market import calendar
from autostock.resources import Resources

log = logging.getLogger("autostock.timetable")

Rule = Callable[[dt.datetime], bool]
Job = Callable[[Resources, dt.datetime], dict[str, Any]]

# Modules that register tasks when imported; each area adds its own line under its anchor.
TASK_MODULES: list[str] = [
    # ---- orders: reconcile, expire, snapshot ----
    "autostock.orders.tasks",
    # ---- strategies (live evaluation) ----
    "autostock.backtest.live",
    # ---- alerts (outbox re-drive) ----
    "autostock.notify.tasks",
]


@dataclass(frozen=True)
class Task:
    name: str
    due: Rule
    run: Job


_tasks: dict[str, Task] = {}
_lock = threading.Lock()
_clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)  # noqa: E731


def task(name: str, due: Rule) -> Callable[[Job], Job]:
    """Register `fn` as the task `name`, run when `due(now)` is true."""
    def register(fn: Job) -> Job:
        with _lock:
            _tasks[name] = Task(name, due, fn)
        return fn
    return register


def every_minute(now: dt.datetime) -> bool:
    return True


def after_close(minutes: int = 0) -> Rule:
    """Due on a session day from `minutes` after the regular close until midnight."""
    def rule(now: dt.datetime) -> bool:
        local = now.astimezone(calendar.SEOUL)
        bounds = calendar.session_bounds(local.date())
        return bounds is not None and local >= bounds[1] + dt.timedelta(minutes=minutes)
    return rule


def install_clock(clock: Callable[[], dt.datetime] | None) -> None:
    """Run the timetable on another clock (tests; None restores the system clock)."""
    global _clock
    _clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))


def registered() -> dict[str, Task]:
    for module in TASK_MODULES:
        importlib.import_module(module)
    with _lock:
        return dict(_tasks)


def run_due(resources: Resources, *, now: dt.datetime | None = None, only: str | None = None) -> dict[str, Any]:
    """Run every due task (or just `only`, due or not); report each one's result."""
    now = (now or _clock()).astimezone(calendar.SEOUL)
    tasks = registered()
    if only is not None and only not in tasks:
        from autostock.errors import NotFound
        raise NotFound(f"no task named {only}", code="task_not_found", details={"tasks": sorted(tasks)})
    report: dict[str, Any] = {}
    for name, entry in sorted(tasks.items()):
        if only is not None and name != only:
            continue
        if only is None and not entry.due(now):
            continue
        try:
            report[name] = entry.run(resources, now)
        except AppError as e:
            log.warning("task failed", extra={"task": name, "error": e.code})
            report[name] = {"error": e.code}
        except Exception as e:  # one broken task must not stop the clock
            log.exception("task crashed", extra={"task": name})
            report[name] = {"error": type(e).__name__}
    return {"at": now.isoformat(), "ran": report}
