"""The embedded server and the pool's error translation: what `operator-argo serve` gets with
no POSTGRES_HOST, and Unavailable when the database is not there."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from operator_argo.config import Settings
from operator_argo.domain.errors import Unavailable
from operator_argo.domain.job import JobFilter, NewJob
from operator_argo.store.database import Database
from operator_argo.store.lifecycle import job_store, open_database
from operator_argo.store.migrate import applied_versions, load_migrations
from tests.kit.scratch import postmaster_pid, scratch_dir


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with scratch_dir("data") as root:
        yield root / "data"


@pytest.mark.slow
async def test_embedded_server_starts_migrates_keeps_data_and_stops(
    data_dir: Path, make_job: Callable[..., NewJob]
) -> None:
    settings = Settings(data_dir=data_dir, postgres_db="operator_test", pool_min_size=1)
    async with open_database(settings) as database:
        assert await applied_versions(database) == [m.version for m in load_migrations()]
        assert "operator_test" in database.conninfo
        stored = await job_store(database, settings).insert_job(make_job())
        pid = postmaster_pid(data_dir)
        assert psutil.pid_exists(pid)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE

    async with open_database(settings) as database:  # a restart finds the job again
        await database.ping()
        found = await job_store(database, settings).find_jobs(JobFilter(job_id=stored.job_id))
        assert found == [stored]
        assert postmaster_pid(data_dir) != pid


async def test_unreachable_database_is_unavailable(tmp_path: Path) -> None:
    settings = Settings(postgres_host=str(tmp_path), postgres_port=5999, pool_min_size=1)
    database = Database.from_settings(settings)
    with pytest.raises(Unavailable):
        await database.open(wait_seconds=1.0)


async def test_closed_pool_is_unavailable(settings_factory: Callable[..., Settings]) -> None:
    database = Database.from_settings(settings_factory())
    await database.open()
    await database.ping()
    await database.close()
    with pytest.raises(Unavailable):
        await database.ping()
