"""The janitor on a real database and local result storage: expiry and overdue jobs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from operator_argo.config import Settings
from operator_argo.domain.environment import Environment
from operator_argo.domain.job import JobUpdate, ResultFile
from operator_argo.domain.status import JobStatus
from operator_argo.service.janitor import Janitor
from operator_argo.storage.base import StoredResults, result_key
from operator_argo.storage.local import LocalStorage
from operator_argo.store.database import Database
from operator_argo.store.jobs import PostgresJobStore
from tests.fakes.engine import RecordingEngine
from tests.integration.service.conftest import new_job


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
    engine = RecordingEngine()
    now = dt.datetime.now(dt.UTC)

    soon = Janitor(
        settings,
        job_store,
        engine,
        StoredResults(storage),
        clock=lambda: now + dt.timedelta(seconds=30),
    )
    assert await soon.expire_results() == 0
    later = Janitor(
        settings,
        job_store,
        engine,
        StoredResults(storage),
        clock=lambda: now + dt.timedelta(hours=1),
    )
    assert await later.expire_results() == 1

    assert not (tmp_path / "results" / short).exists()
    assert (tmp_path / "results" / kept / "out.txt").read_text() == "result"
    expired = await job_store.get_job(short)
    assert expired is not None and expired.results_deleted_at is not None
    assert await later.expire_results() == 0  # recorded: not deleted twice


async def test_jobs_that_outlive_every_deadline_are_ended(
    settings_factory, job_store: PostgresJobStore, tmp_path: Path
) -> None:
    settings: Settings = settings_factory(
        environments=(Environment(id="env-a", namespace="n", max_job_duration=60),),
        configure_timeout=60,
        publish_timeout=60,
    )
    job = await job_store.insert_job(new_job("env-a"))
    claimed = await job_store.claim_next("env-a", 1)
    assert claimed is not None
    await job_store.record_submission(job.job_id, f"c2d-{job.job_id}")
    queued = await job_store.insert_job(new_job("env-a"))  # never submitted: not overdue
    engine = RecordingEngine()
    storage = StoredResults(LocalStorage(tmp_path / "results"))
    now = dt.datetime.now(dt.UTC)

    early = Janitor(
        settings, job_store, engine, storage, clock=lambda: now + dt.timedelta(minutes=5)
    )
    assert await early.end_overdue_jobs() == 0
    late = Janitor(settings, job_store, engine, storage, clock=lambda: now + dt.timedelta(hours=1))
    assert await late.end_overdue_jobs() == 1

    ended = await job_store.get_job(job.job_id)
    assert ended is not None and ended.status is JobStatus.FINISHED and ended.error
    assert ended.date_finished is not None
    assert engine.deleted == [job.job_id]
    still = await job_store.get_job(queued.job_id)
    assert still is not None and still.status is JobStatus.QUEUED


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
