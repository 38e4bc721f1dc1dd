"""Migrations: applied once, in order, idempotent, and safe when two processes start together."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import psycopg

from operator_argo.store.database import Database
from operator_argo.store.migrate import applied_versions, load_migrations, migrate

if TYPE_CHECKING:
    from tests.conftest import PostgresServer


async def _open(server: PostgresServer, dbname: str, size: int = 1) -> Database:
    database = Database(server.conninfo(dbname), min_size=size, max_size=size)
    await database.open()
    return database


def _tables(server: PostgresServer, dbname: str) -> set[str]:
    with psycopg.connect(server.conninfo(dbname)) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def test_migration_files_are_numbered_in_order() -> None:
    migrations = load_migrations()
    assert migrations, "the package ships no migrations"
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name.startswith("0001_")


async def test_migrate_creates_schema_then_is_a_no_op(
    postgres_server: PostgresServer, empty_database: str
) -> None:
    database = await _open(postgres_server, empty_database)
    try:
        assert await applied_versions(database) == []
        first = await migrate(database)
        second = await migrate(database)
        versions = await applied_versions(database)
    finally:
        await database.close()
    assert first == [m.name for m in load_migrations()]
    assert second == []
    assert versions == [m.version for m in load_migrations()]
    assert {"jobs", "job_status_history", "nonces", "schema_migrations"} <= _tables(
        postgres_server, empty_database
    )


async def test_concurrent_migrations_apply_each_file_once(
    postgres_server: PostgresServer, empty_database: str
) -> None:
    # Two pools stand for two replicas starting at the same moment.
    first = await _open(postgres_server, empty_database)
    second = await _open(postgres_server, empty_database)
    try:
        results = await asyncio.gather(migrate(first), migrate(second), migrate(first))
        versions = await applied_versions(first)
    finally:
        await first.close()
        await second.close()
    names = [m.name for m in load_migrations()]
    assert sorted(results, key=len, reverse=True) == [names, [], []]
    assert versions == [m.version for m in load_migrations()]
