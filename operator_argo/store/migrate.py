"""Schema migrations: apply the numbered SQL files under store/migrations once, in order."""

from __future__ import annotations

import dataclasses
import re
from importlib import resources

import structlog

from operator_argo.store.database import Connection, Database

_log = structlog.get_logger(__name__)

# Key of the transaction-scoped advisory lock that serialises migrations: two replicas starting at
# once apply each file exactly once. (A one-key lock: it cannot collide with the two-key locks
# the job store takes.)
MIGRATION_LOCK_KEY = 0x6F70_6172_676F  # "opargo"

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """Every migration shipped with the package, by version; a malformed name is a bug."""
    folder = resources.files("operator_argo.store") / "migrations"
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _NAME.match(entry.name)
        if match is None:
            raise ValueError(f"migration file name must look like 0001_name.sql: {entry.name}")
        found.append(
            Migration(version=int(match.group(1)), name=entry.name, sql=entry.read_text("utf-8"))
        )
    found.sort(key=lambda item: item.version)
    versions = [item.version for item in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations share a version number: {versions}")
    return found


async def _apply_pending(conn: Connection, migrations: list[Migration]) -> list[str]:
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
    await conn.execute(_CREATE_TABLE)
    cur = await conn.execute("SELECT version FROM schema_migrations")
    done = {row["version"] for row in await cur.fetchall()}
    applied: list[str] = []
    for migration in migrations:
        if migration.version in done:
            continue
        await conn.execute(migration.sql.encode())  # no parameters: may hold several statements
        await conn.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
            (migration.version, migration.name),
        )
        applied.append(migration.name)
    return applied


async def migrate(database: Database) -> list[str]:
    """Apply pending migrations in one transaction; returns the names applied (maybe none)."""
    migrations = load_migrations()
    async with database.transaction() as conn:
        applied = await _apply_pending(conn, migrations)
    for name in applied:
        _log.info("migration_applied", migration=name)
    return applied


async def applied_versions(database: Database) -> list[int]:
    """Versions recorded in schema_migrations (empty before the first migration)."""
    async with database.connection() as conn:
        cur = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
        row = await cur.fetchone()
        if row is None or not row["present"]:
            return []
        cur = await conn.execute("SELECT version FROM schema_migrations ORDER BY version")
        return [int(item["version"]) for item in await cur.fetchall()]
