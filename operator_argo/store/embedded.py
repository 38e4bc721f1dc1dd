"""Embedded PostgreSQL: a real server from the pgserver wheel under the data directory."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import warnings
from pathlib import Path
from typing import Any

import psutil
import psycopg
import structlog
from psycopg import sql
from psycopg.conninfo import make_conninfo

from operator_argo.domain.errors import Unavailable

_log = structlog.get_logger(__name__)

SUPERUSER = "postgres"  # the role pgserver's initdb creates; local connections are trusted
HOLDERS_FILE = ".handle_pids.json"  # pgserver's list of the processes using the server


def _pgserver() -> Any:
    # pgserver asks platformdirs for a runtime directory at import time, which warns when
    # XDG_RUNTIME_DIR is unset (containers, CI); its fallback under /tmp is fine for us.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver  # noqa: PLC0415  (imported on demand: only the embedded setup needs it)
    return pgserver


@dataclasses.dataclass(frozen=True, kw_only=True)
class EmbeddedServer:
    """A running embedded server, reachable over its unix socket only."""

    pgdata: Path
    socket_dir: Path
    port: int
    handle: Any = dataclasses.field(repr=False, compare=False)

    def conninfo(self, dbname: str) -> str:
        return make_conninfo(
            host=str(self.socket_dir), port=self.port, user=SUPERUSER, dbname=dbname
        )


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def forget_dead_holders(pgdata: Path) -> list[int]:
    """Drop the processes that are gone from the server's list of holders; return their PIDs.

    pgserver lists every process holding a handle on the server in `HOLDERS_FILE` and stops the
    server when the last holder releases it. A holder killed with SIGKILL never releases, so its
    PID would stay there for ever and no later clean stop would stop the server. Blocking."""
    path = pgdata / HOLDERS_FILE
    with _pgserver().PostgresServer._lock:  # the lock pgserver itself takes around the list
        try:
            holders = json.loads(path.read_text())
        except (OSError, ValueError):
            return []
        if not isinstance(holders, list):
            return []
        dead = [pid for pid in holders if not (isinstance(pid, int) and _alive(pid))]
        if dead:
            path.write_text(json.dumps([pid for pid in holders if pid not in dead]))
    return dead


def start_server(pgdata: Path) -> EmbeddedServer:
    """Initialise `pgdata` if needed and start (or join) the server there, adopting a server
    left running by a holder that was killed. Blocking."""
    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        dead = forget_dead_holders(pgdata)
        if dead:
            _log.info("embedded_postgres_adopted", pgdata=str(pgdata), dead_holders=dead)
        handle = _pgserver().get_server(pgdata, cleanup_mode="stop")
        info = handle.get_postmaster_info()
    except (OSError, subprocess.SubprocessError, AssertionError) as exc:
        raise Unavailable(f"cannot start the embedded PostgreSQL under {pgdata}: {exc}") from exc
    server = EmbeddedServer(
        pgdata=pgdata, socket_dir=Path(info.socket_dir), port=info.port, handle=handle
    )
    _log.info("embedded_postgres_started", pgdata=str(pgdata), pid=info.pid)
    return server


def stop_server(server: EmbeddedServer) -> None:
    """Release this process's handle; the server stops when no other process still uses it."""
    server.handle.cleanup()
    _log.info("embedded_postgres_released", pgdata=str(server.pgdata))


def ensure_database(server: EmbeddedServer, dbname: str) -> None:
    """Create database `dbname` unless it exists (safe against a concurrent creator). Blocking."""
    try:
        with psycopg.connect(server.conninfo("postgres"), autocommit=True) as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)
            ).fetchone()
            if found is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
                _log.info("embedded_database_created", database=dbname)
    except psycopg.errors.DuplicateDatabase:
        pass  # created by another process between our check and our CREATE
    except psycopg.OperationalError as exc:
        raise Unavailable(f"the embedded PostgreSQL does not answer: {exc}") from exc


async def start_embedded(data_dir: Path, dbname: str) -> EmbeddedServer:
    """Start the server under `<data_dir>/postgres` and make sure `dbname` exists."""
    server = await asyncio.to_thread(start_server, data_dir / "postgres")
    try:
        await asyncio.to_thread(ensure_database, server, dbname)
    except BaseException:
        await asyncio.to_thread(stop_server, server)
        raise
    return server


async def stop_embedded(server: EmbeddedServer) -> None:
    await asyncio.to_thread(stop_server, server)
