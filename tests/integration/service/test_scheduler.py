"""The admission queue on a real database: FIFO, maxJobs, idempotence and outages."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from operator_argo.config import Settings
from operator_argo.domain.backoff import Backoff
from operator_argo.domain.environment import Environment
from operator_argo.domain.errors import PermanentEngineError, TransientEngineError, Unavailable
from operator_argo.domain.job import Job, JobFilter, JobUpdate
from operator_argo.domain.names import workflow_name
from operator_argo.domain.status import JobStatus, StopReason
from operator_argo.service.scheduler import PIPELINE_DEPTH, SUBMIT_BATCH, Scheduler
from operator_argo.store.database import Database
from operator_argo.store.jobs import PostgresJobStore
from tests.fakes.engine import RecordingEngine
from tests.kit.clock import VirtualClock
from tests.kit.factories import make_environment, new_job
from tests.kit.store import claim_next
from tests.operatorkit import eventually

FINISHED = JobUpdate(status=JobStatus.FINISHED, finished=True, results=())


async def test_fifo_per_environment_and_never_more_than_max_jobs(
    service_settings: Settings, job_store: PostgresJobStore
) -> None:
    jobs = [await job_store.insert_job(new_job("env-a")) for _ in range(5)]
    other = await job_store.insert_job(new_job("env-b"))
    engine = RecordingEngine()
    scheduler = Scheduler(service_settings, job_store, engine)

    assert await scheduler.run_once() == 3  # two of env-a, one of env-b
    assert engine.submitted == [jobs[0].job_id, jobs[1].job_id, other.job_id]
    assert await scheduler.run_once() == 0  # full

    await job_store.apply_update(jobs[0].job_id, FINISHED)
    assert await scheduler.run_once() == 1
    assert engine.submitted[-1] == jobs[2].job_id
    stored = await job_store.get_job(jobs[2].job_id)
    assert stored is not None and stored.workflow_name == workflow_name(jobs[2].job_id)


async def test_cluster_outage_leaves_jobs_queued_and_retries(
    service_settings: Settings, job_store: PostgresJobStore
) -> None:
    job = await job_store.insert_job(new_job("env-a"))
    engine = RecordingEngine(fail_with=TransientEngineError("cluster down"), fail_times=2)
    scheduler = Scheduler(service_settings, job_store, engine)
    for _ in range(2):
        try:
            await scheduler.run_once()
        except TransientEngineError:
            pass
        else:
            raise AssertionError("the outage must reach the loop so it backs off")
        stored = await job_store.get_job(job.job_id)
        assert (
            stored is not None and stored.status is JobStatus.QUEUED and stored.submitted_at is None
        )
    assert await scheduler.run_once() == 1
    assert engine.submitted == [job.job_id]


async def test_backoff_is_capped_and_resets() -> None:
    backoff = Backoff(base=1.0, cap=8.0)
    assert [backoff.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    backoff.reset()
    assert backoff.next_delay() == 1.0


async def test_a_rejected_workflow_ends_the_job_instead_of_looping(
    service_settings: Settings, job_store: PostgresJobStore
) -> None:
    job = await job_store.insert_job(new_job("env-a"))
    engine = RecordingEngine(fail_with=PermanentEngineError("invalid workflow"), fail_times=1)
    await Scheduler(service_settings, job_store, engine).run_once()
    stored = await job_store.get_job(job.job_id)
    assert stored is not None and stored.status is JobStatus.FINISHED
    assert stored.date_finished is not None and stored.error == "invalid workflow"


async def test_a_stop_that_arrives_during_submission_reaches_the_engine(
    service_settings: Settings, job_store: PostgresJobStore
) -> None:
    job = await job_store.insert_job(new_job("env-a"))

    async def stop_meanwhile(claimed: Job) -> None:
        await job_store.request_stop(JobFilter(job_id=claimed.job_id))

    engine = RecordingEngine(on_submit=stop_meanwhile)
    await Scheduler(service_settings, job_store, engine).run_once()
    assert engine.stopped == [job.job_id]
    stored = await job_store.get_job(job.job_id)
    assert stored is not None and stored.stopreq is StopReason.REQUESTED


async def test_two_schedulers_on_one_database_never_exceed_max_jobs_nor_submit_twice(
    service_settings: Settings, job_store: PostgresJobStore
) -> None:
    total = 24
    for _ in range(total):
        await job_store.insert_job(new_job("env-a"))
    max_jobs = service_settings.environment("env-a").max_jobs  # type: ignore[union-attr]
    over_limit: list[int] = []

    async def check_room(_: Job) -> None:
        active = (await job_store.count_active()).get("env-a", 0)
        if active > max_jobs:
            over_limit.append(active)

    engines = [RecordingEngine(on_submit=check_room), RecordingEngine(on_submit=check_room)]
    databases = [Database.from_settings(service_settings) for _ in engines]
    for db in databases:
        await db.open()
    try:
        schedulers = [
            Scheduler(service_settings, PostgresJobStore(db), engine)
            for db, engine in zip(databases, engines, strict=True)
        ]

        async def finisher() -> None:
            while sum(len(e.submitted) for e in engines) < total:
                for engine in engines:
                    for job_id in list(engine.submitted):
                        await job_store.apply_update(job_id, FINISHED)
                await asyncio.sleep(0.005)

        async def drive(scheduler: Scheduler) -> None:
            while sum(len(e.submitted) for e in engines) < total:
                await scheduler.run_once()
                await asyncio.sleep(0)

        await asyncio.wait_for(asyncio.gather(finisher(), *(drive(s) for s in schedulers)), 60)
    finally:
        for db in databases:
            await db.close()

    submitted = engines[0].submitted + engines[1].submitted
    assert len(submitted) == total and len(set(submitted)) == total
    assert over_limit == []


async def test_claims_never_recorded_are_submitted_again_and_recorded_ones_are_not(
    service_settings: Settings, job_store: PostgresJobStore
) -> None:
    lost = await job_store.insert_job(new_job("env-a"))
    done = await job_store.insert_job(new_job("env-a"))
    claimed = await job_store.claim_batch("env-a", 2, 2)
    assert {job.job_id for job in claimed} == {lost.job_id, done.job_id}
    await job_store.record_submission(done.job_id, workflow_name(done.job_id))
    engine = RecordingEngine()
    await Scheduler(service_settings, job_store, engine).take_over()
    assert engine.submitted == [lost.job_id]
    stored = await job_store.get_job(lost.job_id)
    assert stored is not None and stored.workflow_name == workflow_name(lost.job_id)


async def test_an_unreachable_engine_at_start_keeps_the_claim_and_the_loop_takes_over_later(
    service_settings: Settings, job_store: PostgresJobStore
) -> None:
    lost = await job_store.insert_job(new_job("env-a"))
    assert await claim_next(job_store, "env-a", 2) is not None
    engine = RecordingEngine(fail_with=TransientEngineError("down"), fail_times=2)
    clock = VirtualClock()
    scheduler = Scheduler(service_settings, job_store, engine, clock=clock)
    with pytest.raises(TransientEngineError):
        await scheduler.take_over()
    stored = await job_store.get_job(lost.job_id)
    assert stored is not None and stored.submitted_at is not None and not stored.workflow_name

    loop = asyncio.create_task(scheduler.run())
    try:
        await eventually(lambda: engine.submitted == [lost.job_id])
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    assert clock.slept[0] == 1.0  # the take-over failed once more and backed off
    stored = await job_store.get_job(lost.job_id)
    assert stored is not None and stored.workflow_name == workflow_name(lost.job_id)


async def test_take_over_ends_jobs_whose_environment_is_gone_or_workflow_is_refused(
    settings_factory: Callable[..., Settings], job_store: PostgresJobStore
) -> None:
    gone = await job_store.insert_job(new_job("env-gone"))
    refused = await job_store.insert_job(new_job("env-a"))
    for env in ("env-gone", "env-a"):
        assert await claim_next(job_store, env, 5) is not None
    only_a = settings_factory(environments=(make_environment("env-a"),))
    engine = RecordingEngine(fail_with=PermanentEngineError("invalid workflow"), fail_times=1)
    await Scheduler(only_a, job_store, engine).take_over()
    for job_id, error in (
        (gone.job_id, "environment 'env-gone' is no longer configured"),
        (refused.job_id, "invalid workflow"),
    ):
        stored = await job_store.get_job(job_id)
        assert stored is not None and stored.status is JobStatus.FINISHED
        assert stored.error == error and stored.date_finished is not None
    assert sorted(engine.deleted) == sorted([gone.job_id, refused.job_id])


@pytest.fixture
def roomy_settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(
        environments=(
            Environment(id="env-a", namespace="ns-a", max_jobs=100, max_job_duration=60),
        ),
    )


class Gate:
    """Holds submissions until `release_at` of them wait at once (or a second passes)."""

    def __init__(self, release_at: int) -> None:
        self.release_at = release_at
        self.waiting = 0
        self.peak = 0
        self.cancelled = 0
        self.open = asyncio.Event()

    async def __call__(self, _: Job) -> None:
        self.waiting += 1
        self.peak = max(self.peak, self.waiting)
        if self.waiting >= self.release_at:
            self.open.set()
        try:
            await asyncio.wait_for(self.open.wait(), 1.0)
        except TimeoutError:
            self.open.set()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.waiting -= 1


async def test_the_next_batch_is_claimed_while_the_cluster_answers_the_previous_one(
    roomy_settings: Settings, job_store: PostgresJobStore
) -> None:
    jobs = [await job_store.insert_job(new_job("env-a")) for _ in range(40)]
    gate = Gate(release_at=SUBMIT_BATCH * PIPELINE_DEPTH)
    engine = RecordingEngine(on_submit=gate)

    assert await Scheduler(roomy_settings, job_store, engine).run_once() == 40

    assert gate.peak == SUBMIT_BATCH * PIPELINE_DEPTH  # two batches in flight, never more
    assert sorted(engine.submitted) == sorted(job.job_id for job in jobs)
    for job in jobs:
        stored = await job_store.get_job(job.job_id)
        assert stored is not None and stored.workflow_name == workflow_name(job.job_id)


async def test_an_outage_stops_claiming_lets_batches_in_flight_finish_and_loses_no_job(
    roomy_settings: Settings, job_store: PostgresJobStore
) -> None:
    jobs = [await job_store.insert_job(new_job("env-a")) for _ in range(40)]
    calls = 0
    second_batch_failed = asyncio.Event()

    async def fail_one_in_the_second_batch(job: Job) -> None:
        nonlocal calls
        calls += 1
        if calls <= SUBMIT_BATCH:  # the first batch is still in flight when the second fails
            await second_batch_failed.wait()
            await asyncio.sleep(0.2)  # and answers well after the failed batch is done
        elif calls == SUBMIT_BATCH + 3:
            second_batch_failed.set()
            raise TransientEngineError("cluster down")

    engine = RecordingEngine(on_submit=fail_one_in_the_second_batch)
    scheduler = Scheduler(roomy_settings, job_store, engine)
    with pytest.raises(TransientEngineError):
        await scheduler.run_once()

    # Two batches were claimed, none after the failure; all but the failed one are recorded.
    assert len(engine.submitted) == 2 * SUBMIT_BATCH - 1
    stored = [await job_store.get_job(job.job_id) for job in jobs]
    recorded = [job for job in stored if job is not None and job.workflow_name]
    queued = [job for job in stored if job is not None and job.submitted_at is None]
    assert len(recorded) == 2 * SUBMIT_BATCH - 1
    assert len(queued) == len(jobs) - len(recorded)

    assert await scheduler.run_once() == len(queued)  # the cluster is back: the rest go
    assert sorted(set(engine.submitted)) == sorted(job.job_id for job in jobs)
    assert len(engine.submitted) == len(jobs)


async def test_a_cancelled_pass_cancels_its_batches_and_leaves_their_claims_to_resume(
    roomy_settings: Settings, job_store: PostgresJobStore
) -> None:
    jobs = [await job_store.insert_job(new_job("env-a")) for _ in range(40)]
    gate = Gate(release_at=10**6)  # never opens by count: the pass is cancelled while waiting
    engine = RecordingEngine(on_submit=gate)
    scheduler = Scheduler(roomy_settings, job_store, engine)
    task = asyncio.create_task(scheduler.run_once())
    for _ in range(500):
        if gate.waiting == SUBMIT_BATCH * PIPELINE_DEPTH:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert gate.cancelled == SUBMIT_BATCH * PIPELINE_DEPTH and gate.waiting == 0
    await scheduler.take_over()
    assert len(engine.submitted) == SUBMIT_BATCH * PIPELINE_DEPTH
    assert await scheduler.run_once() == len(jobs) - SUBMIT_BATCH * PIPELINE_DEPTH
    assert sorted(engine.submitted) == sorted(job.job_id for job in jobs)


async def test_a_failed_claim_lets_the_batch_in_flight_finish_and_record(
    roomy_settings: Settings, job_store: PostgresJobStore
) -> None:
    jobs = [await job_store.insert_job(new_job("env-a")) for _ in range(40)]

    class FailingSecondClaim:
        def __init__(self) -> None:
            self.claims = 0

        def __getattr__(self, name: str) -> object:
            return getattr(job_store, name)

        async def claim_batch(self, environment: str, max_jobs: int, limit: int) -> list[Job]:
            self.claims += 1
            if self.claims == 2:
                raise Unavailable("database connection lost")
            return await job_store.claim_batch(environment, max_jobs, limit)

    async def slow(_: Job) -> None:
        await asyncio.sleep(0.05)  # still in flight when the second claim fails

    engine = RecordingEngine(on_submit=slow)
    scheduler = Scheduler(roomy_settings, FailingSecondClaim(), engine)  # type: ignore[arg-type]
    with pytest.raises(Unavailable):
        await scheduler.run_once()
    assert len(engine.submitted) == SUBMIT_BATCH
    for job_id in engine.submitted:  # created and recorded, not cancelled half-way
        stored = await job_store.get_job(job_id)
        assert stored is not None and stored.workflow_name == workflow_name(job_id)
    assert await Scheduler(roomy_settings, job_store, engine).run_once() == len(jobs) - SUBMIT_BATCH


async def test_a_database_outage_makes_the_loop_back_off_not_crash(
    service_settings: Settings, job_store: PostgresJobStore
) -> None:
    job = await job_store.insert_job(new_job("env-a"))

    class DownOnce:
        def __init__(self) -> None:
            self.failed = False

        def __getattr__(self, name: str) -> object:
            return getattr(job_store, name)

        async def claim_batch(self, environment: str, max_jobs: int, limit: int) -> list[Job]:
            if not self.failed:
                self.failed = True
                raise Unavailable("the database is not reachable")
            return await job_store.claim_batch(environment, max_jobs, limit)

    engine = RecordingEngine()
    clock = VirtualClock()
    scheduler = Scheduler(service_settings, DownOnce(), engine, clock=clock)  # type: ignore[arg-type]
    loop = asyncio.create_task(scheduler.run())
    try:
        await eventually(lambda: engine.submitted == [job.job_id])
        assert not loop.done(), "the loop must survive the outage"
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    assert clock.slept[0] == 1.0  # backed off once, in virtual time
