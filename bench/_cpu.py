"""CPU time of the processes a benchmark phase loads, from /proc (Linux).

Wall-clock rates on a shared two-core machine move with whatever else runs; the CPU the
server and the database spend per request does not (much). `Meter` reads both around a phase.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any

import psycopg

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        # The command name may hold spaces and parentheses: split after its closing one.
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` so far (0 when it is gone)."""
    fields = _stat(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / _TICK


def tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += parents.get(current, [])
    return found


def backends(database_url: str) -> list[int]:
    """The server processes of the connections to `database_url`'s database."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]


class Meter:
    """CPU of a server process tree and of its database's backends across one phase.

    A process that starts during the phase (a pool growing) counts from zero; one that ends
    during it is missed (pools keep their connections, servers their workers)."""

    def __init__(self, server_pid: int, database_url: str) -> None:
        self.server_pid, self.database_url = server_pid, database_url
        self._start: dict[int, float] = {}
        self._client_start = 0.0

    def _pids(self) -> tuple[list[int], list[int]]:
        return tree(self.server_pid), backends(self.database_url)

    def start(self) -> None:
        server, database = self._pids()
        self._start = {pid: cpu_seconds(pid) for pid in server + database}
        self._client_start = _client_seconds()

    def per(self, operations: int) -> dict[str, Any]:
        """Milliseconds of CPU per operation since `start`: of the server, of the database, and of
        the load generator (this process, where the asyncio clients run, and the children it
        waited for, where wrk runs), which shares the same cores."""
        server, database = ((sum(cpu_seconds(pid) - self._start.get(pid, 0.0) for pid in pids))
                            for pids in self._pids())
        client = _client_seconds() - self._client_start
        n = max(1, operations)
        return {"server_cpu_ms_per_op": round(server * 1000 / n, 2),
                "postgres_cpu_ms_per_op": round(database * 1000 / n, 2),
                "load_client_cpu_ms_per_op": round(client * 1000 / n, 2)}


def _client_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime
