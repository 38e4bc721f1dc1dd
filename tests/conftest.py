"""Shared fixtures: one real PostgreSQL per test session, a fresh database per test.

With POSTGRES_HOST set the tests use that server (POSTGRES_PORT/USER/PASSWORD); otherwise one
embedded server (pgserver) runs under a temporary directory for the whole session.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from operator_argo.config import Settings
from operator_argo.store.database import Database
from operator_argo.store.embedded import SUPERUSER, start_server, stop_server
from operator_argo.store.jobs import PostgresJobStore
from operator_argo.store.migrate import migrate

# `--kube=fake|real|node`: the Kubernetes API the Argo engine tests run against.
pytest_plugins = ["tests.cluster.plugin"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class PostgresServer:
    """Where the session's PostgreSQL listens (host may be a unix socket directory)."""

    host: str
    port: int
    user: str
    password: str
    admin_db: str = "postgres"

    def conninfo(self, dbname: str) -> str:
        return make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=dbname,
        )

    def create_database(self, template: str | None = None) -> str:
        """A new database with a unique name, empty or copied from `template`."""
        name = f"test_{uuid.uuid4().hex}"
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        with psycopg.connect(self.conninfo(self.admin_db), autocommit=True) as conn:
            conn.execute(query)
        return name

    def drop_database(self, name: str) -> None:
        query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        with psycopg.connect(self.conninfo(self.admin_db), autocommit=True) as conn:
            conn.execute(query)

    def settings(self, dbname: str, **overrides: Any) -> Settings:
        """Settings that point at database `dbname` of this server."""
        fields: dict[str, Any] = {
            "postgres_host": self.host,
            "postgres_port": self.port,
            "postgres_user": self.user,
            "postgres_password": self.password,
            "postgres_db": dbname,
            "pool_min_size": 1,
            "pool_max_size": 4,
        }
        fields.update(overrides)
        return Settings(**fields)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server: external (POSTGRES_HOST) or one embedded server."""
    host = os.environ.get("POSTGRES_HOST", "").strip()
    if host:
        yield PostgresServer(
            host=host,
            port=int(os.environ.get("POSTGRES_PORT", "5432")),
            user=os.environ.get("POSTGRES_USER", "postgres"),
            password=os.environ.get("POSTGRES_PASSWORD", ""),
        )
        return
    # Not under pytest's numbered temp dirs: concurrent pytest sessions prune those.
    root = Path(tempfile.mkdtemp(prefix="operator-argo-pg-"))
    embedded = start_server(root / "pgdata")
    try:
        server = PostgresServer(
            host=str(embedded.socket_dir), port=embedded.port, user=SUPERUSER, password=""
        )
        with psycopg.connect(server.conninfo(server.admin_db), autocommit=True) as conn:
            # A throw-away server: durability costs time and buys nothing.
            conn.execute("ALTER SYSTEM SET fsync = off")
            conn.execute("ALTER SYSTEM SET synchronous_commit = off")
            conn.execute("ALTER SYSTEM SET full_page_writes = off")
            conn.execute("SELECT pg_reload_conf()")
        yield server
    finally:
        stop_server(embedded)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def migrated_template(postgres_server: PostgresServer) -> Iterator[str]:
    """A database migrated once per session; each test copies it (cheaper than migrating)."""
    name = postgres_server.create_database()

    async def _migrate() -> None:
        database = Database(postgres_server.conninfo(name), min_size=1, max_size=1)
        await database.open()
        try:
            await migrate(database)
        finally:
            await database.close()

    asyncio.run(_migrate())
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
def empty_database(postgres_server: PostgresServer) -> Iterator[str]:
    """The name of a new database without any tables, dropped after the test."""
    name = postgres_server.create_database()
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
def migrated_database(postgres_server: PostgresServer, migrated_template: str) -> Iterator[str]:
    """The name of a new, migrated, empty database, dropped after the test."""
    name = postgres_server.create_database(template=migrated_template)
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
def settings_factory(
    postgres_server: PostgresServer, migrated_database: str, tmp_path: Path
) -> Callable[..., Settings]:
    """`settings_factory(**overrides)`: Settings on this test's migrated database, with the data
    and results directories under the test's tmp_path."""

    def make(**overrides: Any) -> Settings:
        defaults: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "results_dir": tmp_path / "data" / "results",
        }
        return postgres_server.settings(migrated_database, **(defaults | overrides))

    return make


@pytest.fixture
async def database(settings_factory: Callable[..., Settings]) -> AsyncIterator[Database]:
    """An open pool on this test's migrated database."""
    settings = settings_factory()
    db = Database.from_settings(settings)
    await db.open()
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
def job_store(database: Database) -> PostgresJobStore:
    """The job store on this test's migrated database (no nonce window)."""
    return PostgresJobStore(database)
