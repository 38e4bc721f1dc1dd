"""apply_update: guarded transitions, dateFinished once, results and history in one transaction."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

from operator_argo.domain.job import JobUpdate, NewJob, ResultFile, TerminationDetails
from operator_argo.domain.status import JobStatus, StopReason
from operator_argo.store.jobs import PostgresJobStore

MakeJob = Callable[..., NewJob]
FILES = (
    ResultFile(filename="out.txt", filesize=3, type="output", key="j/out.txt"),
    ResultFile(filename="algorithm.log", filesize=10, type="algorithmLog", key="j/algorithm.log"),
)


async def test_forward_path_records_everything(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    job = await job_store.insert_job(make_job())
    started = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    for status in (JobStatus.CONFIGURING, JobStatus.PROVISIONED):
        assert (await job_store.apply_update(job.job_id, JobUpdate(status=status))) is not None
    running = await job_store.apply_update(
        job.job_id, JobUpdate(status=JobStatus.RUNNING, algorithm_started_at=started)
    )
    assert running is not None and running.algorithm_started_at == started
    assert running.date_finished is None and running.results is None
    await job_store.apply_update(job.job_id, JobUpdate(status=JobStatus.PUBLISHING))
    final = await job_store.apply_update(
        job.job_id,
        JobUpdate(
            status=JobStatus.FINISHED,
            finished=True,
            results=FILES,
            stopreq=StopReason.DEADLINE,
            termination=TerminationDetails(exit_code=137, oom_killed=True, message="OOMKilled"),
            error="algorithm exceeded its time limit",
        ),
    )
    assert final is not None and final.status is JobStatus.FINISHED
    assert final.results == FILES and final.stopreq is StopReason.DEADLINE
    assert final.termination == TerminationDetails(
        exit_code=137, oom_killed=True, message="OOMKilled"
    )
    assert final.error == "algorithm exceeded its time limit"
    assert final.algorithm_started_at == started  # kept
    assert final.date_finished is not None and final.date_finished >= final.date_created
    assert await job_store.get_job(job.job_id) == final
    history = await job_store.status_history(job.job_id)
    assert [status for status, _ in history] == [1, 20, 30, 40, 60, 70]
    assert [at for _, at in history] == sorted(at for _, at in history)


async def test_backwards_duplicate_and_post_final_updates_are_rejected(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    job = await job_store.insert_job(make_job())
    assert await job_store.apply_update(job.job_id, JobUpdate(status=JobStatus.RUNNING)) is not None
    assert await job_store.apply_update(job.job_id, JobUpdate(status=JobStatus.RUNNING)) is None
    assert await job_store.apply_update(job.job_id, JobUpdate(status=JobStatus.CONFIGURING)) is None
    assert await job_store.apply_update(job.job_id, JobUpdate(status=JobStatus.QUEUED)) is None
    done = JobUpdate(
        status=JobStatus.DATA_FAILED, finished=True, results=(), error="input 0 failed"
    )
    finished = await job_store.apply_update(job.job_id, done)
    assert finished is not None and finished.date_finished is not None
    again = JobUpdate(status=JobStatus.FINISHED, finished=True, results=FILES)
    assert await job_store.apply_update(job.job_id, again) is None
    assert await job_store.apply_update(job.job_id, done) is None
    after = await job_store.get_job(job.job_id)
    assert after == finished and after.results == () and after.error == "input 0 failed"
    assert [status for status, _ in await job_store.status_history(job.job_id)] == [1, 40, 31]
    assert await job_store.apply_update("0" * 32, done) is None


async def test_concurrent_final_updates_finish_the_job_once(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    job = await job_store.insert_job(make_job())
    await job_store.apply_update(job.job_id, JobUpdate(status=JobStatus.PUBLISHING))
    updates = [
        JobUpdate(status=JobStatus.FINISHED, finished=True, results=FILES[:1]),
        JobUpdate(status=JobStatus.ALGORITHM_FAILED, finished=True, results=()),
        JobUpdate(status=JobStatus.FINISHED, finished=True, results=FILES),
    ]
    outcomes = await asyncio.gather(*(job_store.apply_update(job.job_id, u) for u in updates))
    applied = [item for item in outcomes if item is not None]
    assert len(applied) == 1
    stored = await job_store.get_job(job.job_id)
    assert stored == applied[0]
    assert [status for status, _ in await job_store.status_history(job.job_id)][-2:] == [
        60,
        int(stored.status),  # type: ignore[union-attr]
    ]


async def test_final_status_sets_date_finished_even_without_the_flag(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    job = await job_store.insert_job(make_job())
    after = await job_store.apply_update(job.job_id, JobUpdate(status=JobStatus.ALGORITHM_FAILED))
    assert after is not None and after.date_finished is not None
