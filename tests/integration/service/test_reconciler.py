"""The reconciler on a real database: observations become statuses, then the workflow goes."""

from __future__ import annotations

import dataclasses

from operator_argo.domain.names import workflow_name
from operator_argo.domain.observation import Observation, Phase, StepObservation
from operator_argo.domain.status import JobStatus
from operator_argo.service.reconciler import Reconciler
from operator_argo.storage.base import StoredResults
from operator_argo.storage.local import LocalStorage
from operator_argo.store.jobs import PostgresJobStore
from tests.fakes.engine import RecordingEngine
from tests.kit.factories import new_job

PUBLISHED = {
    "files": [
        {"filename": "out.txt", "filesize": 3, "type": "output", "key": "k/out.txt"},
        {"filename": "publish.log", "filesize": 9, "type": "publishLog", "key": "k/publish.log"},
    ],
    "error": None,
}


def observe(job_id: str, phase: Phase | None, **steps: StepObservation) -> Observation:
    return Observation(job_id=job_id, workflow_name=workflow_name(job_id), phase=phase, steps=steps)


def ok(phase: Phase = Phase.SUCCEEDED, **kw: object) -> StepObservation:
    return StepObservation(phase=phase, exit_code=0 if phase is Phase.SUCCEEDED else None, **kw)  # type: ignore[arg-type]


def happy_sequence(job_id: str) -> list[Observation]:
    return [
        observe(job_id, Phase.RUNNING, configure=ok(Phase.RUNNING)),
        observe(job_id, Phase.RUNNING, configure=ok()),
        observe(job_id, Phase.RUNNING, configure=ok(), algorithm=ok(Phase.RUNNING)),
        observe(job_id, Phase.RUNNING, configure=ok(), algorithm=ok(), publish=ok(Phase.RUNNING)),
        observe(
            job_id, Phase.SUCCEEDED, configure=ok(), algorithm=ok(), publish=ok(output=PUBLISHED)
        ),
    ]


async def test_happy_path_is_stored_in_order_then_the_workflow_is_released(
    job_store: PostgresJobStore,
) -> None:
    job = await job_store.insert_job(new_job())
    engine = RecordingEngine()
    reconciler = Reconciler(job_store, engine)
    for obs in happy_sequence(job.job_id):
        assert engine.released == []
        await reconciler.apply(obs)
    stored = await job_store.get_job(job.job_id)
    assert stored is not None and stored.status is JobStatus.FINISHED
    assert stored.date_finished is not None
    assert stored.results is not None and [r.filename for r in stored.results] == [
        "out.txt",
        "publish.log",
    ]
    history = [status for status, _ in await job_store.status_history(job.job_id)]
    assert history == [1, 20, 30, 40, 60, 70]
    assert engine.released == [job.job_id] and engine.deleted == []


async def test_duplicate_out_of_order_and_late_events_are_no_ops(
    job_store: PostgresJobStore,
) -> None:
    job = await job_store.insert_job(new_job())
    reconciler = Reconciler(job_store, RecordingEngine())
    seq = happy_sequence(job.job_id)
    for obs in (seq[0], seq[0], seq[2], seq[1], seq[2], seq[0]):
        await reconciler.apply(obs)
    history = [status for status, _ in await job_store.status_history(job.job_id)]
    assert history == [1, 20, 40]
    await reconciler.apply(seq[4])
    finished = await job_store.get_job(job.job_id)
    assert finished is not None
    await reconciler.apply(seq[3])  # late, after the end
    after = await job_store.get_job(job.job_id)
    assert after is not None and after.status is JobStatus.FINISHED
    assert after.date_finished == finished.date_finished


async def test_a_workflow_deleted_behind_our_back_ends_the_job(job_store: PostgresJobStore) -> None:
    job = await job_store.insert_job(new_job())
    engine = RecordingEngine()
    reconciler = Reconciler(job_store, engine)
    await reconciler.apply(happy_sequence(job.job_id)[2])
    await reconciler.apply(observe(job.job_id, None))
    stored = await job_store.get_job(job.job_id)
    assert stored is not None and stored.status is JobStatus.FINISHED and stored.error
    assert engine.released == [] and engine.deleted == []  # nothing left to clean up


async def test_finished_workflows_seen_again_are_released_until_they_say_so(
    job_store: PostgresJobStore,
) -> None:
    job = await job_store.insert_job(new_job())
    engine = RecordingEngine()
    reconciler = Reconciler(job_store, engine)
    final = happy_sequence(job.job_id)[-1]
    await reconciler.apply(final)
    await reconciler.apply(final)  # e.g. the release failed and a resync shows it again
    assert engine.released == [job.job_id, job.job_id]
    released = dataclasses.replace(final, released=True)
    await reconciler.apply(released)  # its TTL is set: Argo removes it, no need to ask again
    await reconciler.apply(released)  # and its removal by that TTL (the last state, released)
    assert engine.released == [job.job_id, job.job_id] and engine.deleted == []
    stored = await job_store.get_job(job.job_id)
    assert stored is not None and stored.status is JobStatus.FINISHED and stored.error is None


async def test_unknown_jobs_are_ignored(job_store: PostgresJobStore) -> None:
    engine = RecordingEngine()
    assert await Reconciler(job_store, engine).apply(happy_sequence("f" * 32)[-1]) is None
    assert engine.deleted == [] and engine.released == []


async def test_results_of_a_job_removed_while_running_are_deleted_when_it_publishes(
    job_store: PostgresJobStore, tmp_path
) -> None:
    job = await job_store.insert_job(new_job())
    storage = LocalStorage(tmp_path / "results")
    source = tmp_path / "out.txt"
    source.write_text("out")
    files = []
    for item in PUBLISHED["files"]:
        key = await storage.put_file(f"{job.job_id}/{item['filename']}", source)
        files.append(item | {"key": key})
    woken: list[bool] = []
    reconciler = Reconciler(
        job_store, RecordingEngine(), StoredResults(storage), on_finished=lambda: woken.append(True)
    )
    await reconciler.apply(happy_sequence(job.job_id)[2])
    await job_store.mark_removed(job.job_id)  # DELETE /compute while the algorithm runs
    final = observe(
        job.job_id,
        Phase.SUCCEEDED,
        configure=ok(),
        algorithm=ok(),
        publish=ok(output={"files": files, "error": None}),
    )
    await reconciler.apply(final)
    stored = await job_store.get_job(job.job_id)
    assert stored is not None and stored.removed and stored.results_deleted_at is not None
    assert not (tmp_path / "results" / job.job_id).exists()
    assert woken == [True]  # the scheduler is told there is room again


async def test_a_job_removed_while_running_has_its_workflow_deleted_not_kept(
    job_store: PostgresJobStore,
) -> None:
    job = await job_store.insert_job(new_job())
    engine = RecordingEngine()
    reconciler = Reconciler(job_store, engine)
    await reconciler.apply(happy_sequence(job.job_id)[2])
    await job_store.mark_removed(job.job_id)  # DELETE /compute while it ran
    final = happy_sequence(job.job_id)[-1]
    await reconciler.apply(final)
    assert engine.deleted == [job.job_id] and engine.released == []
    await reconciler.apply(dataclasses.replace(final, released=True))  # kept by a TTL after all
    assert engine.deleted == [job.job_id, job.job_id]
