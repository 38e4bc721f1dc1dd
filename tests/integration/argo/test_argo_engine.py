"""ArgoEngine against the fake API: idempotent submit, stop, delete, transient errors, watchdog."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator

import pytest

from operator_argo.config import Settings
from operator_argo.domain.errors import ConfigurationError, Forbidden, TransientEngineError
from operator_argo.domain.observation import Phase
from operator_argo.engines.argo.client import KubeClient
from operator_argo.engines.argo.engine import ArgoEngine
from tests.fakes.kube import FakeKube, ObservationRecorder
from tests.fakes.kube import sample_job as make_job

NS = "ocean-compute"


@pytest.fixture
def engine(kube_settings: Settings, kube_client: KubeClient) -> ArgoEngine:
    return ArgoEngine(kube_settings, kube_client)


@pytest.fixture
async def running(engine: ArgoEngine, fake_kube: FakeKube) -> AsyncIterator[ObservationRecorder]:
    """The engine's run loop reporting into a recorder, with both namespaces watched."""
    recorder = ObservationRecorder()
    task = asyncio.create_task(engine.run(recorder), name="test-engine-run")
    await fake_kube.wait_watches(2)
    yield recorder
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.kube_fake_only
async def test_submit_is_idempotent(
    engine: ArgoEngine, fake_kube: FakeKube, kube_settings: Settings
) -> None:
    job = make_job()
    environment = kube_settings.environments[0]
    first = await engine.submit(job, environment)
    second = await engine.submit(job, environment)
    assert first == second == f"c2d-{job.job_id}"
    assert list(fake_kube.workflows) == [(NS, first)]
    posts = [path for method, path in fake_kube.requests if method == "POST"]
    assert len(posts) == 2
    labels = fake_kube.workflow(NS, first)["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "operator-argo"


async def test_submit_goes_to_the_environment_namespace(
    engine: ArgoEngine, fake_kube: FakeKube, kube_settings: Settings
) -> None:
    job = make_job(environment="gpu")
    name = await engine.submit(job, kube_settings.environments[1])
    assert (kube_settings.environments[1].namespace, name) in fake_kube.workflows


@pytest.mark.kube_fake_only
async def test_submit_while_unavailable_is_transient(
    engine: ArgoEngine, fake_kube: FakeKube, kube_settings: Settings
) -> None:
    fake_kube.fail_next(1, 503, method="POST")
    with pytest.raises(TransientEngineError):
        await engine.submit(make_job(), kube_settings.environments[0])
    assert fake_kube.workflows == {}
    assert await engine.submit(make_job(), kube_settings.environments[0])  # and works after


@pytest.mark.kube_fake_only
async def test_submit_without_rbac_is_forbidden(
    engine: ArgoEngine, fake_kube: FakeKube, kube_settings: Settings
) -> None:
    fake_kube.fail_next(1, 403, method="POST")
    with pytest.raises(Forbidden, match="create workflows/c2d-"):
        await engine.submit(make_job(), kube_settings.environments[0])


async def test_stop_sets_shutdown_and_ignores_missing(
    engine: ArgoEngine, fake_kube: FakeKube, kube_settings: Settings
) -> None:
    job = make_job()
    name = await engine.submit(job, kube_settings.environments[0])
    await engine.stop(dataclasses.replace(job, workflow_name=name))
    assert fake_kube.workflow(NS, name)["spec"]["shutdown"] == "Stop"
    assert fake_kube.workflow(NS, name)["spec"]["onExit"] == "publish"  # a merge, not a replace
    await engine.stop(make_job("b2" * 16))  # never submitted: nothing to stop, no error


async def test_delete_removes_and_ignores_missing(
    engine: ArgoEngine, fake_kube: FakeKube, kube_settings: Settings
) -> None:
    job = make_job()
    await engine.submit(job, kube_settings.environments[0])
    await engine.delete(job)
    assert fake_kube.workflows == {}
    await engine.delete(job)


async def test_run_watches_every_environment_namespace(
    engine: ArgoEngine, fake_kube: FakeKube, kube_settings: Settings, running: ObservationRecorder
) -> None:
    assert sorted(w.namespace for w in engine.watchers) == ["gpu-jobs", "ocean-compute"]
    gpu_job = make_job("c3" * 16, environment="gpu")
    name = await engine.submit(gpu_job, kube_settings.environments[1])
    fake_kube.set_step("gpu-jobs", name, "configure", "Running")
    obs = await running.wait_for(lambda obs: "configure" in obs.steps)
    assert obs.job_id == gpu_job.job_id and obs.phase is Phase.RUNNING


async def test_watchdog_ends_workflows_argo_left_running(
    kube_settings: Settings, kube_client: KubeClient, fake_kube: FakeKube
) -> None:
    later = dt.datetime.now(dt.UTC)
    engine = ArgoEngine(
        kube_settings, kube_client, clock=lambda: later, watchdog_grace=60, watchdog_interval=0.1
    )
    recorder = ObservationRecorder()
    task = asyncio.create_task(engine.run(recorder))
    try:
        await fake_kube.wait_watches(2)
        name = await engine.submit(make_job(), kube_settings.environments[0])
        fake_kube.set_step(NS, name, "configure", "Running")
        await recorder.wait_for(lambda obs: "configure" in obs.steps)
        assert await engine.check_deadlines(recorder) == []  # within its deadline: left alone
        deadline = fake_kube.workflow(NS, name)["spec"]["activeDeadlineSeconds"]
        later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=deadline + 61)
        overdue = await recorder.wait_for(lambda obs: obs.finished)
        assert overdue.deadline_exceeded and overdue.phase is Phase.FAILED
        assert "past its" in (overdue.message or "") and "watchdog" in (overdue.message or "")
        await asyncio.sleep(0.3)
        assert [obs.finished for obs in recorder.seen].count(True) == 1  # reported once
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_from_settings_and_close(kube_settings: Settings, fake_kube: FakeKube) -> None:
    engine = await ArgoEngine.from_settings(kube_settings)
    try:
        name = await engine.submit(make_job(), kube_settings.environments[0])
        assert (NS, name) in fake_kube.workflows
    finally:
        await engine.close()


async def test_missing_kubeconfig_is_a_configuration_error(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="kubeconfig"):
        await KubeClient.connect(Settings(kubeconfig=str(tmp_path / "missing-kubeconfig")))
