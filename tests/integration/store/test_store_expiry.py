"""Result expiry: which finished jobs' results are due for deletion."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from operator_argo.domain.job import Job, JobUpdate, NewJob
from operator_argo.domain.status import JobStatus
from operator_argo.store.database import Database
from operator_argo.store.jobs import PostgresJobStore

MakeJob = Callable[..., NewJob]


async def _finished(
    store: PostgresJobStore, database: Database, new: NewJob, finished_at: dt.datetime
) -> Job:
    job = await store.insert_job(new)
    await store.apply_update(job.job_id, JobUpdate(status=JobStatus.FINISHED, finished=True))
    # The clock of the database decides date_finished; move it to a known instant.
    async with database.connection() as conn:
        await conn.execute(
            "UPDATE jobs SET date_finished = %s WHERE job_id = %s", (finished_at, job.job_id)
        )
    return job


async def test_expired_results_use_environment_and_default_expiry(
    job_store: PostgresJobStore, database: Database, make_job: MakeJob
) -> None:
    now = dt.datetime(2031, 6, 1, 12, 0, tzinfo=dt.UTC)
    hour = dt.timedelta(hours=1)
    old_a = await _finished(job_store, database, make_job(environment="env-a"), now - 3 * hour)
    new_a = await _finished(job_store, database, make_job(environment="env-a"), now - hour / 2)
    old_b = await _finished(job_store, database, make_job(environment="env-b"), now - 3 * hour)
    old_c = await _finished(job_store, database, make_job(environment="env-c"), now - 30 * hour)
    running = await job_store.insert_job(make_job(environment="env-a"))

    def ids(jobs: list[Job]) -> set[str]:
        return {job.job_id for job in jobs}

    # default 1 hour; env-b keeps results 4 hours; env-c's 0 means "the default"
    expiries = {"env-b": 4 * 3600, "env-c": 0}
    due = await job_store.expired_results(now, 3600, expiries)
    assert ids(due) == {old_a.job_id, old_c.job_id}
    assert [job.job_id for job in due] == [old_c.job_id, old_a.job_id]  # oldest first
    assert running.job_id not in ids(due) and new_a.job_id not in ids(due)
    assert ids(await job_store.expired_results(now, 0, expiries)) == set()  # 0 = forever
    assert ids(await job_store.expired_results(now, 3600)) == {
        old_a.job_id,
        old_b.job_id,
        old_c.job_id,
    }

    await job_store.mark_results_deleted(old_a.job_id)
    await job_store.mark_results_deleted(old_a.job_id)  # idempotent
    deleted = await job_store.get_job(old_a.job_id)
    assert deleted is not None and deleted.results_deleted_at is not None
    assert ids(await job_store.expired_results(now, 3600, expiries)) == {old_c.job_id}


async def test_results_deleted_at_is_set_once(
    job_store: PostgresJobStore, database: Database, make_job: MakeJob
) -> None:
    job = await _finished(job_store, database, make_job(), dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    await job_store.mark_results_deleted(job.job_id)
    first = await job_store.get_job(job.job_id)
    await job_store.mark_results_deleted(job.job_id)
    second = await job_store.get_job(job.job_id)
    assert first is not None and second is not None
    assert first.results_deleted_at == second.results_deleted_at is not None
