"""Store lifecycle: start the embedded server if configured, open the pool, migrate, close."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from operator_argo.config import Settings
from operator_argo.domain.notice import NoticeKind
from operator_argo.store.database import Database
from operator_argo.store.embedded import EmbeddedServer, start_embedded, stop_embedded
from operator_argo.store.jobs import PostgresJobStore
from operator_argo.store.migrate import migrate


@asynccontextmanager
async def open_database(
    settings: Settings, *, apply_migrations: bool = True
) -> AsyncIterator[Database]:
    """An open Database for `settings`: the external POSTGRES_* server, or (POSTGRES_HOST empty)
    an embedded one under `<data_dir>/postgres` that is released again on exit."""
    server: EmbeddedServer | None = None
    conninfo: str | None = None
    if settings.embedded_postgres:
        server = await start_embedded(settings.data_dir, settings.postgres_db)
        conninfo = server.conninfo(settings.postgres_db)
    try:
        database = Database.from_settings(settings, conninfo)
        await database.open()
        try:
            if apply_migrations:
                await migrate(database)
            yield database
        finally:
            await database.close()
    finally:
        if server is not None:
            await stop_embedded(server)


def job_store(database: Database, settings: Settings) -> PostgresJobStore:
    """The job store on `database`, with the nonce policy of `settings` and the environments
    whose jobs' starts and finishes are notified."""
    return PostgresJobStore(
        database,
        nonce_window=settings.nonce_window,
        notify_start=settings.notified_environments(NoticeKind.START),
        notify_finish=settings.notified_environments(NoticeKind.FINISH),
    )
