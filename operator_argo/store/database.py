"""Database: the async connection pool, and the one place psycopg errors become domain errors.

While the server is unreachable nothing waits for the pool: the first failure marks the
database down, and from then on each caller makes (or shares) one direct connection attempt,
bounded by the database timeout, and gets Unavailable at once if it fails. The attempt that
succeeds replaces the pool's connections, so the first request after the server returns works.
"""

from __future__ import annotations

import asyncio
import math
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

    def __init__(
        self, conninfo: str, *, min_size: int = 2, max_size: int = 10, timeout: float = 2.0
    ) -> None:
        self.conninfo = conninfo
        self._timeout = timeout
        # libpq counts connect_timeout in whole seconds, and no less than 2.
        self._connect_timeout = max(2, math.ceil(timeout))
        self._pool = AsyncConnectionPool(
            conninfo,
            connection_class=Connection,
            # Autocommit: a single statement commits with itself (no extra COMMIT round trip);
            # several statements that belong together use `transaction()`.
            kwargs={
                "row_factory": dict_row,
                "options": "-c TimeZone=UTC",
                "autocommit": True,
                "connect_timeout": self._connect_timeout,
            },
            min_size=min_size,
            max_size=max_size,
            open=False,
            timeout=timeout,
            # Give up reconnecting soon: a connection still being retried counts against
            # max_size, and the recovery below replaces the pool's connections anyway.
            reconnect_timeout=max(timeout, 1.0),
            reset=self._note_returned,
            name="operator-argo",
        )
        self._returned_at: weakref.WeakKeyDictionary[Connection, float] = (
            weakref.WeakKeyDictionary()
        )
        self._reachable = True
        self._recovery: asyncio.Future[None] | None = None

    @property
    def max_size(self) -> int:
        """The most connections the pool opens."""
        return self._pool.max_size

    @property
    def timeout(self) -> float:
        """The most a call waits for the database, in seconds."""
        return self._timeout

    async def _note_returned(self, conn: Connection) -> None:
        self._returned_at[conn] = time.monotonic()

    def _idle_too_long(self, conn: Connection) -> bool:
        """Check a connection before handing it out only if it sat idle for a while: a busy
        connection is known good, and checking each checkout costs a round trip per query."""
        return time.monotonic() - self._returned_at.get(conn, 0.0) > IDLE_CHECK_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings, conninfo: str | None = None) -> Database:
        """A pool sized by `settings`, on `conninfo` (default: the external POSTGRES_* server)."""
        return cls(
            conninfo or conninfo_from_settings(settings),
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            timeout=settings.db_timeout,
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

    async def _reconnect(self) -> None:
        """One direct connection attempt; when it works, fresh connections for the pool."""
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.conninfo, connect_timeout=self._connect_timeout
            )
        except psycopg.Error as exc:
            raise _unavailable(exc) from exc
        await conn.close()
        await self._pool.drain()  # its connections died with the server it knew
        self._reachable = True
        _log.info("database_reachable")

    async def _recover(self) -> None:
        """Unavailable at once unless the database answers again (one attempt at a time)."""
        if self._recovery is None:
            self._recovery = asyncio.ensure_future(self._reconnect())
            self._recovery.add_done_callback(self._recovery_done)
        await asyncio.shield(self._recovery)

    def _recovery_done(self, future: asyncio.Future[None]) -> None:
        self._recovery = None
        if not future.cancelled():
            future.exception()  # retrieved here: its callers may all have gone

    async def _checked_out(self, *, retry: bool = True) -> Connection:
        if not self._reachable:
            await self._recover()
        try:
            conn = await self._pool.getconn()
        except _UNAVAILABLE_ERRORS as exc:
            self._reachable = self._pool.closed  # a closed pool is no outage
            raise _unavailable(exc) from exc
        if not self._idle_too_long(conn):
            return conn
        try:
            async with asyncio.timeout(self._timeout):
                await AsyncConnectionPool.check_connection(conn)
        except (*_UNAVAILABLE_ERRORS, TimeoutError) as exc:
            await self._pool.putconn(conn)  # broken: the pool discards it
            self._reachable = False
            if not retry:
                raise (
                    _unavailable(exc)
                    if isinstance(exc, psycopg.Error)
                    else Unavailable("the database did not answer in time")
                ) from exc
            await self._recover()  # a server that restarted answers at once: try afresh
            return await self._checked_out(retry=False)
        return conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A pooled connection; committed when the block ends normally, rolled back otherwise.
        Unavailable within about the database timeout while the server is unreachable."""
        conn = await self._checked_out()
        try:
            async with conn:  # a pooled connection: commit or roll back, never close
                yield conn
        except _UNAVAILABLE_ERRORS as exc:
            if conn.broken:
                self._reachable = False
            raise _unavailable(exc) from exc
        finally:
            await self._pool.putconn(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A pooled connection inside one explicit transaction."""
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def ping(self) -> None:
        """Raise Unavailable unless the database answers a trivial query."""
        async with self.connection() as conn:
            await conn.execute("SELECT 1")
