"""What the engine observes drives a job through the Ocean statuses (domain.progress)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Callable

import pytest

from operator_argo.config import Settings
from operator_argo.domain.job import Job
from operator_argo.domain.observation import Observation
from operator_argo.domain.progress import decide_update
from operator_argo.domain.status import JobStatus, StopReason
from operator_argo.engines.argo.client import KubeClient
from operator_argo.engines.argo.engine import ArgoEngine
from tests.fakes.kube import FakeKube, ObservationRecorder
from tests.fakes.kube import sample_job as make_job

NS = "ocean-compute"
LOGS = [
    {"filename": "algorithm.log", "filesize": 5, "type": "algorithmLog", "key": "k/algorithm.log"}
]
OUTPUT = [{"filename": "out.txt", "filesize": 3, "type": "output", "key": "k/out.txt"}]
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


def fold(job: Job, observations: list[Observation]) -> tuple[Job, list[int]]:
    """Apply every observation as the reconciler would; return the job and its status trail."""
    trail = [int(job.status)]
    for obs in observations:
        update = decide_update(job, obs)
        if update is None:
            continue
        job = dataclasses.replace(
            job,
            status=update.status,
            stopreq=update.stopreq if update.stopreq is not None else job.stopreq,
            results=update.results if update.finished else job.results,
            date_finished=dt.datetime.now(dt.UTC) if update.finished else None,
            termination=update.termination or job.termination,
            error=update.error,
        )
        trail.append(int(job.status))
    return job, trail


@pytest.fixture
async def engine_run(
    kube_settings: Settings, kube_client: KubeClient, fake_kube: FakeKube
) -> AsyncIterator[tuple[ArgoEngine, ObservationRecorder]]:
    engine = ArgoEngine(kube_settings, kube_client)
    recorder = ObservationRecorder()
    task = asyncio.create_task(engine.watch(recorder))
    await fake_kube.wait_watches(2)
    yield engine, recorder
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


Play = Callable[[FakeKube, str], None]


async def run_job(
    engine_run: tuple[ArgoEngine, ObservationRecorder],
    fake_kube: FakeKube,
    kube_settings: Settings,
    play: Play,
    job: Job | None = None,
) -> tuple[Job, list[int], list[Observation]]:
    engine, recorder = engine_run
    job = job or make_job()
    name = await engine.submit(job, kube_settings.environments[0])
    play(fake_kube, name)
    await recorder.wait_for(lambda obs: obs.finished)
    seen = recorder.of(name)
    final, trail = fold(dataclasses.replace(job, workflow_name=name), seen)
    return final, trail, seen


def succeed_configure(kube: FakeKube, name: str) -> None:
    kube.set_step(NS, name, "configure", "Running")
    kube.set_step(
        NS, name, "configure", "Succeeded", exit_code=0, result={"inputs": [], "error": None}
    )


def publish_and_end(
    kube: FakeKube, name: str, phase: str, files: list, message: str | None = None
) -> None:
    kube.set_step(NS, name, "publish", "Running")
    kube.set_step(
        NS, name, "publish", "Succeeded", exit_code=0, result={"files": files, "error": None}
    )
    kube.finish(NS, name, phase, message=message)


def play_success(kube: FakeKube, name: str) -> None:
    succeed_configure(kube, name)
    kube.set_step(NS, name, "algorithm", "Running")
    kube.set_step(NS, name, "algorithm", "Succeeded", exit_code=0)
    publish_and_end(kube, name, "Succeeded", OUTPUT + LOGS)


async def test_success_walks_1_20_30_40_60_70(
    engine_run, fake_kube: FakeKube, kube_settings: Settings
) -> None:
    job, trail, _ = await run_job(engine_run, fake_kube, kube_settings, play_success)
    assert trail == [1, 20, 30, 40, 60, 70]
    assert job.results is not None and [r.filename for r in job.results] == [
        "out.txt",
        "algorithm.log",
    ]
    assert job.stopreq is StopReason.NONE and job.error is None
    assert job.termination is not None and job.termination.exit_code == 0


@pytest.mark.parametrize(
    ("code", "status"), [(31, JobStatus.DATA_FAILED), (32, JobStatus.ALGORITHM_FAILED)]
)
async def test_configure_failures_end_in_31_or_32(
    engine_run, fake_kube: FakeKube, kube_settings: Settings, code: int, status: JobStatus
) -> None:
    def play(kube: FakeKube, name: str) -> None:
        kube.set_step(NS, name, "configure", "Running")
        failure = {"inputs": [], "error": "download failed"}
        message = f"Error (exit code {code})"
        kube.set_step(
            NS, name, "configure", "Failed", exit_code=code, result=failure, message=message
        )
        publish_and_end(kube, name, "Failed", LOGS, message=f"configure: {message}")

    job, trail, _ = await run_job(engine_run, fake_kube, kube_settings, play)
    assert trail == [1, 20, int(status)]  # 20 while publish runs: never 60, then lower
    assert job.results is not None and [r.type for r in job.results] == ["algorithmLog"]


async def test_algorithm_deadline_sets_stopreq_2(
    engine_run, fake_kube: FakeKube, kube_settings: Settings
) -> None:
    def play(kube: FakeKube, name: str) -> None:
        succeed_configure(kube, name)
        kube.set_step(NS, name, "algorithm", "Running")
        kube.set_step(NS, name, "algorithm", "Failed", message=DEADLINE_MESSAGE)
        publish_and_end(kube, name, "Failed", LOGS, message=DEADLINE_MESSAGE)

    job, trail, seen = await run_job(engine_run, fake_kube, kube_settings, play)
    assert trail == [1, 20, 30, 40, 60, 70]
    assert job.stopreq is StopReason.DEADLINE
    assert seen[-1].steps["algorithm"].deadline_exceeded


async def test_oom_killed_algorithm_is_recorded(
    engine_run, fake_kube: FakeKube, kube_settings: Settings
) -> None:
    def play(kube: FakeKube, name: str) -> None:
        succeed_configure(kube, name)
        kube.set_step(NS, name, "algorithm", "Running")
        kube.set_step(
            NS, name, "algorithm", "Failed", exit_code=137, message="OOMKilled (exit code 137)"
        )
        publish_and_end(kube, name, "Failed", LOGS)

    job, trail, _ = await run_job(engine_run, fake_kube, kube_settings, play)
    assert trail[-1] == 70
    assert job.termination is not None
    assert (job.termination.exit_code, job.termination.oom_killed) == (137, True)


async def test_stop_runs_publish_and_finishes(
    engine_run, fake_kube: FakeKube, kube_settings: Settings
) -> None:
    engine, recorder = engine_run
    job = dataclasses.replace(make_job(), stopreq=StopReason.REQUESTED)
    name = await engine.submit(job, kube_settings.environments[0])
    succeed_configure(fake_kube, name)
    fake_kube.set_step(NS, name, "algorithm", "Running")
    await engine.stop(dataclasses.replace(job, workflow_name=name))
    fake_kube.set_step(NS, name, "algorithm", "Failed", message="Stopped with strategy 'Stop'")
    publish_and_end(fake_kube, name, "Failed", LOGS, message="Stopped with strategy 'Stop'")
    await recorder.wait_for(lambda obs: obs.finished)
    seen = recorder.of(name)
    assert any(obs.stopping for obs in seen)
    final, trail = fold(job, seen)
    assert trail == [1, 20, 30, 40, 60, 70]
    assert final.stopreq is StopReason.REQUESTED  # a requested stop stays 1, not 2


async def test_deleted_while_running_finishes_the_job(
    engine_run, fake_kube: FakeKube, kube_settings: Settings
) -> None:
    engine, recorder = engine_run
    job = make_job()
    name = await engine.submit(job, kube_settings.environments[0])
    succeed_configure(fake_kube, name)
    fake_kube.delete_behind(NS, name)
    await recorder.wait_for(lambda obs: obs.deleted)
    final, trail = fold(job, recorder.of(name))
    assert trail == [1, 20, 30, 70]
    assert final.error == "the workflow was deleted before it finished"
