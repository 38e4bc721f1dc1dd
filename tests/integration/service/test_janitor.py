"""The janitor on a real database and local result storage: expiry and overdue jobs."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from operator_argo.config import Settings
from operator_argo.domain.deadlines import OVERDUE_GRACE, workflow_deadline
from operator_argo.domain.environment import Environment, FilterStep
from operator_argo.domain.errors import Unavailable
from operator_argo.domain.job import JobUpdate, ResultFile
from operator_argo.domain.names import workflow_name
from operator_argo.domain.status import JobStatus
from operator_argo.service.janitor import Janitor
from operator_argo.storage.base import StoredResults, result_key
from operator_argo.storage.local import LocalStorage
from operator_argo.store.database import Database
from operator_argo.store.jobs import PostgresJobStore
from tests.fakes.engine import RecordingEngine
from tests.kit.clock import VirtualClock
from tests.kit.factories import new_job
from tests.kit.store import claim_next


async def _finished_with_file(
    store: PostgresJobStore, storage: LocalStorage, tmp: Path, env: str
) -> str:
    job = await store.insert_job(new_job(env))
    source = tmp / f"{job.job_id}.txt"
    source.write_text("result")
    key = await storage.put_file(result_key(job.job_id, "out.txt"), source)
    result = ResultFile(filename="out.txt", filesize=6, type="output", key=key)
    await store.apply_update(
        job.job_id, JobUpdate(status=JobStatus.FINISHED, finished=True, results=(result,))
    )
    return job.job_id


async def test_expiry_deletes_exactly_the_expired_jobs_files(
    settings_factory, job_store: PostgresJobStore, tmp_path: Path
) -> None:
    settings: Settings = settings_factory(
        environments=(
            Environment(id="short", namespace="n", storage_expiry=60),
            Environment(id="forever", namespace="n", storage_expiry=0),
        ),
        storage_expiry=0,
    )
    storage = LocalStorage(tmp_path / "results")
    short = await _finished_with_file(job_store, storage, tmp_path, "short")
    kept = await _finished_with_file(job_store, storage, tmp_path, "forever")
    clock = VirtualClock(dt.datetime.now(dt.UTC))
    janitor = Janitor(settings, job_store, RecordingEngine(), StoredResults(storage), clock=clock)
    await clock.advance(30)
    assert await janitor.expire_results() == 0
    await clock.advance(3600)
    assert await janitor.expire_results() == 1

    assert not (tmp_path / "results" / short).exists()
    assert (tmp_path / "results" / kept / "out.txt").read_text() == "result"
    expired = await job_store.get_job(short)
    assert expired is not None and expired.results_deleted_at is not None
    assert await janitor.expire_results() == 0  # recorded: not deleted twice


async def test_jobs_that_outlive_every_deadline_are_ended(
    settings_factory, job_store: PostgresJobStore, tmp_path: Path
) -> None:
    settings: Settings = settings_factory(
        environments=(Environment(id="env-a", namespace="n", max_job_duration=60),),
        configure_timeout=60,
        publish_timeout=60,
    )
    job = await job_store.insert_job(new_job("env-a"))
    claimed = await claim_next(job_store, "env-a", 1)
    assert claimed is not None
    await job_store.record_submission(job.job_id, workflow_name(job.job_id))
    queued = await job_store.insert_job(new_job("env-a"))  # never submitted: not overdue
    engine = RecordingEngine()
    storage = StoredResults(LocalStorage(tmp_path / "results"))
    clock = VirtualClock(claimed.submitted_at)  # type: ignore[arg-type]
    janitor = Janitor(settings, job_store, engine, storage, clock=clock)
    deadline = workflow_deadline(60, 60, 60)
    await clock.advance(deadline + OVERDUE_GRACE - 1)
    assert await janitor.end_overdue_jobs() == 0
    await clock.advance(1)
    assert await janitor.end_overdue_jobs() == 1

    ended = await job_store.get_job(job.job_id)
    assert ended is not None and ended.status is JobStatus.FINISHED and ended.error
    assert ended.date_finished is not None
    assert engine.deleted == [job.job_id]
    still = await job_store.get_job(queued.job_id)
    assert still is not None and still.status is JobStatus.QUEUED


async def test_a_filtering_step_gives_the_workflow_its_extra_time(
    settings_factory, job_store: PostgresJobStore, tmp_path: Path
) -> None:
    step = FilterStep(image="f:1", command=("true",), timeout=500)
    settings: Settings = settings_factory(
        environments=(Environment(id="env-f", namespace="n", max_job_duration=60, filter=step),),
        configure_timeout=60,
        publish_timeout=60,
    )
    job = await job_store.insert_job(new_job("env-f"))
    claimed = await claim_next(job_store, "env-f", 1)
    assert claimed is not None and claimed.submitted_at is not None
    clock = VirtualClock(claimed.submitted_at)
    storage = StoredResults(LocalStorage(tmp_path / "results"))
    janitor = Janitor(settings, job_store, RecordingEngine(), storage, clock=clock)
    await clock.advance(workflow_deadline(60, 60, 60) + OVERDUE_GRACE)
    assert await janitor.end_overdue_jobs() == 0  # still inside the filter's 500 s
    await clock.advance(500)
    assert await janitor.end_overdue_jobs() == 1
    assert (await job_store.get_job(job.job_id)).status is JobStatus.FINISHED  # type: ignore[union-attr]


async def test_a_removed_jobs_leftover_results_go_whatever_the_expiry(
    settings_factory, job_store: PostgresJobStore, tmp_path: Path
) -> None:
    settings: Settings = settings_factory(
        environments=(Environment(id="forever", namespace="n", storage_expiry=0),), storage_expiry=0
    )
    storage = LocalStorage(tmp_path / "results")
    removed = await _finished_with_file(job_store, storage, tmp_path, "forever")
    kept = await _finished_with_file(job_store, storage, tmp_path, "forever")
    await job_store.mark_removed(removed)
    janitor = Janitor(settings, job_store, RecordingEngine(), StoredResults(storage))
    assert await janitor.expire_results() == 1
    assert not (tmp_path / "results" / removed).exists()
    assert (tmp_path / "results" / kept / "out.txt").exists()


async def test_each_pass_forgets_nonces_the_window_refuses(
    settings_factory, database: Database, tmp_path: Path
) -> None:
    store = PostgresJobStore(database, nonce_window=1000)
    signer = "0x" + "5" * 40
    for nonce in (1, 2, 5000):
        assert await store.claim_nonce(signer, nonce)
    storage = StoredResults(LocalStorage(tmp_path / "results"))
    janitor = Janitor(settings_factory(), store, RecordingEngine(), storage)
    assert await janitor.run_once() == (0, 0, 2)
    assert await janitor.run_once() == (0, 0, 0)
    assert not await store.claim_nonce(signer, 2)  # forgotten, and still refused


async def test_a_database_outage_makes_the_janitor_back_off_in_virtual_time(
    settings_factory, job_store: PostgresJobStore, tmp_path: Path
) -> None:
    class DownTwice:
        def __init__(self) -> None:
            self.calls = 0

        def __getattr__(self, name: str) -> object:
            return getattr(job_store, name)

        async def prune_nonces(self) -> int:
            self.calls += 1
            if self.calls <= 2:
                raise Unavailable("the database is not reachable")
            return 0

    settings = settings_factory(janitor_interval=300.0)
    clock = VirtualClock()
    store = DownTwice()
    storage = StoredResults(LocalStorage(tmp_path / "results"))
    janitor = Janitor(settings, store, RecordingEngine(), storage, clock=clock)  # type: ignore[arg-type]
    loop = asyncio.create_task(janitor.run())
    try:
        async with asyncio.timeout(10):
            while len(clock.slept) < 4:
                await asyncio.sleep(0.01)
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    assert store.calls >= 3
    # Two failed passes back off (1 s, then 2 s), the next one succeeds: the full interval.
    assert clock.slept[:4] == [1.0, 2.0, 300.0, 300.0]
