"""Database: the async connection pool, and the one place psycopg errors become domain errors."""

from __future__ import annotations

import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import structlog
from psycopg.conninfo import make_conninfo
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from operator_argo.config import Settings
from operator_argo.domain.errors import Unavailable

Connection = psycopg.AsyncConnection[DictRow]
"""A pooled connection whose cursors return rows as dicts."""

_log = structlog.get_logger(__name__)

IDLE_CHECK_SECONDS = 5.0  # connections idle longer than this are checked before reuse

# Errors that mean "the database is not there right now" (server down, connection lost, pool
# exhausted, serialisation failure): the caller may retry later, so they become Unavailable.
_UNAVAILABLE_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)


def conninfo_from_settings(settings: Settings) -> str:
    """The connection string of an external server (POSTGRES_*); a host starting with `/` is a
    unix socket directory."""
    return make_conninfo(
        host=settings.postgres_host,
        port=settings.postgres_port,
        dbname=settings.postgres_db,
        user=settings.postgres_user,
        password=settings.postgres_password or None,
    )


def _unavailable(exc: psycopg.Error) -> Unavailable:
    _log.warning("database_unavailable", error=str(exc).strip(), error_type=type(exc).__name__)
    return Unavailable("the database is not reachable")


class Database:
    """A pool of connections to one PostgreSQL database, opened inside the app's lifecycle."""

    def __init__(self, conninfo: str, *, min_size: int = 2, max_size: int = 10) -> None:
        self.conninfo = conninfo
        self._pool = AsyncConnectionPool(
            conninfo,
            connection_class=Connection,
            # Autocommit: a single statement commits with itself (no extra COMMIT round trip);
            # several statements that belong together use `transaction()`.
            kwargs={"row_factory": dict_row, "options": "-c TimeZone=UTC", "autocommit": True},
            min_size=min_size,
            max_size=max_size,
            open=False,
            check=self._check_if_idle,
            reset=self._note_returned,
            name="operator-argo",
        )
        self._returned_at: weakref.WeakKeyDictionary[Connection, float] = (
            weakref.WeakKeyDictionary()
        )

    async def _note_returned(self, conn: Connection) -> None:
        self._returned_at[conn] = time.monotonic()

    async def _check_if_idle(self, conn: Connection) -> None:
        """Check a connection before handing it out only if it sat idle for a while: a busy
        connection is known good, and checking each checkout costs a round trip per query."""
        if time.monotonic() - self._returned_at.get(conn, 0.0) > IDLE_CHECK_SECONDS:
            await AsyncConnectionPool.check_connection(conn)

    @classmethod
    def from_settings(cls, settings: Settings, conninfo: str | None = None) -> Database:
        """A pool sized by `settings`, on `conninfo` (default: the external POSTGRES_* server)."""
        return cls(
            conninfo or conninfo_from_settings(settings),
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
        )

    async def open(self, wait_seconds: float = 30.0) -> None:
        """Open the pool and wait until `min_size` connections work; Unavailable if they don't."""
        try:
            await self._pool.open(wait=True, timeout=wait_seconds)
        except _UNAVAILABLE_ERRORS as exc:
            await self._pool.close()
            raise _unavailable(exc) from exc

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A pooled connection; committed when the block ends normally, rolled back otherwise."""
        try:
            async with self._pool.connection() as conn:
                yield conn
        except _UNAVAILABLE_ERRORS as exc:
            raise _unavailable(exc) from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A pooled connection inside one explicit transaction."""
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def ping(self) -> None:
        """Raise Unavailable unless the database answers a trivial query."""
        async with self.connection() as conn:
            await conn.execute("SELECT 1")
