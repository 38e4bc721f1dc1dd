"""Embedded PostgreSQL: a real server from the pgserver wheel under the data directory."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import warnings
from pathlib import Path
from typing import Any

import psycopg
import structlog
from psycopg import sql
from psycopg.conninfo import make_conninfo

from operator_argo.domain.errors import Unavailable

_log = structlog.get_logger(__name__)

SUPERUSER = "postgres"  # the role pgserver's initdb creates; local connections are trusted


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


def start_server(pgdata: Path) -> EmbeddedServer:
    """Initialise `pgdata` if needed and start (or join) the server there. Blocking."""
    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
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
