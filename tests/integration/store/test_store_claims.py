"""Admission queue in the database: FIFO per environment, never more than maxJobs started."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from operator_argo.domain.job import JobUpdate, NewJob
from operator_argo.domain.names import workflow_name
from operator_argo.domain.status import JobStatus
from operator_argo.store.database import Database
from operator_argo.store.jobs import PostgresJobStore
from tests.kit.store import claim_next

MakeJob = Callable[..., NewJob]


async def test_claims_are_fifo_per_environment(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    a = [await job_store.insert_job(make_job(environment="env-a")) for _ in range(3)]
    b = await job_store.insert_job(make_job(environment="env-b"))
    claimed_a = [await claim_next(job_store, "env-a", 10) for _ in range(4)]
    assert [job.job_id for job in claimed_a if job] == [job.job_id for job in a]
    assert claimed_a[3] is None
    claimed_b = await claim_next(job_store, "env-b", 10)
    assert claimed_b is not None and claimed_b.job_id == b.job_id
    assert claimed_b.submitted_at is not None and claimed_b.status is JobStatus.QUEUED


async def test_claims_stop_at_max_jobs_and_resume_when_one_finishes(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    jobs = [await job_store.insert_job(make_job()) for _ in range(3)]
    first = await claim_next(job_store, "env-a", 2)
    second = await claim_next(job_store, "env-a", 2)
    assert first is not None and second is not None
    assert await claim_next(job_store, "env-a", 2) is None
    await job_store.apply_update(first.job_id, JobUpdate(status=JobStatus.FINISHED, finished=True))
    third = await claim_next(job_store, "env-a", 2)
    assert third is not None and third.job_id == jobs[2].job_id


async def test_release_claim_puts_the_job_back_first_in_line(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    first = await job_store.insert_job(make_job())
    await job_store.insert_job(make_job())
    claimed = await claim_next(job_store, "env-a", 1)
    assert claimed is not None and claimed.job_id == first.job_id
    await job_store.record_submission(first.job_id, workflow_name(first.job_id))
    recorded = await job_store.get_job(first.job_id)
    assert recorded is not None and recorded.workflow_name == workflow_name(first.job_id)
    assert recorded.submitted_at == claimed.submitted_at
    await job_store.release_claim(first.job_id)
    released = await job_store.get_job(first.job_id)
    assert released is not None and released.submitted_at is None and released.workflow_name is None
    again = await claim_next(job_store, "env-a", 1)
    assert again is not None and again.job_id == first.job_id


async def test_release_claim_leaves_a_started_job_alone(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    job = await job_store.insert_job(make_job())
    await claim_next(job_store, "env-a", 1)
    await job_store.record_submission(job.job_id, workflow_name("x"))
    await job_store.apply_update(job.job_id, JobUpdate(status=JobStatus.CONFIGURING))
    await job_store.release_claim(job.job_id)
    after = await job_store.get_job(job.job_id)
    assert (
        after is not None
        and after.submitted_at is not None
        and after.workflow_name == workflow_name("x")
    )


async def test_concurrent_claimers_never_exceed_max_jobs(
    make_job: MakeJob, database: Database
) -> None:
    """Two schedulers (two pools) hammer one environment while jobs finish; at no moment are
    more than max_jobs claimed and unfinished, and every job is claimed exactly once."""
    max_jobs, total = 3, 24
    store = PostgresJobStore(database)
    other_db = Database(database.conninfo, min_size=2, max_size=2)
    await other_db.open()
    other = PostgresJobStore(other_db)
    for _ in range(total):
        await store.insert_job(make_job(environment="env-h"))
    claimed: list[str] = []
    peak = 0

    async def scheduler(own: PostgresJobStore) -> None:
        nonlocal peak
        idle = 0
        while idle < 20:
            job = await claim_next(own, "env-h", max_jobs)
            active = (await own.count_active()).get("env-h", 0)
            peak = max(peak, active)
            assert active <= max_jobs
            if job is None:
                idle += 1
                await asyncio.sleep(0.005)
                continue
            idle = 0
            claimed.append(job.job_id)
            await asyncio.sleep(0.002)
            done = JobUpdate(status=JobStatus.FINISHED, finished=True, results=())
            assert await own.apply_update(job.job_id, done) is not None

    try:
        await asyncio.gather(scheduler(store), scheduler(other), scheduler(store), scheduler(other))
    finally:
        await other_db.close()
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == total
    assert peak == max_jobs  # the cap was reached, and never passed
