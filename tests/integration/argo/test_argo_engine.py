"""ArgoEngine against the fake API: idempotent submit, stop, delete, transient errors, watchdog."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator

import pytest

from operator_argo.config import Settings
from operator_argo.domain.deadlines import OVERDUE_GRACE
from operator_argo.domain.environment import PodPlacement
from operator_argo.domain.errors import (
    ConfigurationError,
    EngineMisconfigured,
    PermanentEngineError,
    TransientEngineError,
)
from operator_argo.domain.names import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    STOP_REASON_ANNOTATION,
    workflow_name,
)
from operator_argo.domain.observation import Phase
from operator_argo.domain.progress import decide_update
from operator_argo.domain.status import JobStatus
from operator_argo.engines.argo.client import KubeClient
from operator_argo.engines.argo.engine import ArgoEngine
from tests.fakes.kube import FakeKube, ObservationRecorder
from tests.fakes.kube import sample_job as make_job
from tests.kit.clock import VirtualClock

NS = "ocean-compute"


@pytest.fixture
def engine(kube_settings: Settings, kube_client: KubeClient) -> ArgoEngine:
    return ArgoEngine(kube_settings, kube_client)


@pytest.fixture
async def running(engine: ArgoEngine, fake_kube: FakeKube) -> AsyncIterator[ObservationRecorder]:
    """The engine's run loop reporting into a recorder, with both namespaces watched."""
    recorder = ObservationRecorder()
    task = asyncio.create_task(engine.watch(recorder), name="test-engine-run")
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
    assert first == second == workflow_name(job.job_id)
    assert list(fake_kube.workflows) == [(NS, first)]
    posts = [path for method, path in fake_kube.requests if method == "POST"]
    assert len(posts) == 2
    labels = fake_kube.workflow(NS, first)["metadata"]["labels"]
    assert labels[MANAGED_BY_LABEL] == MANAGED_BY


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
@pytest.mark.parametrize(
    ("status", "message"),
    [(403, "forbidden"), (401, "no credentials"), (404, 'namespaces "ocean-compute" not found')],
)
async def test_submit_without_rbac_or_namespace_is_a_retryable_misconfiguration(
    engine: ArgoEngine, fake_kube: FakeKube, kube_settings: Settings, status: int, message: str
) -> None:
    job = make_job()
    fake_kube.fail_next(1, status, method="POST", message=message)
    with pytest.raises(EngineMisconfigured, match=f"create workflows/{workflow_name(job.job_id)}"):
        await engine.submit(job, kube_settings.environments[0])
    assert EngineMisconfigured.retryable


@pytest.mark.kube_fake_only
async def test_an_invalid_workflow_is_a_permanent_refusal(
    engine: ArgoEngine, fake_kube: FakeKube, kube_settings: Settings
) -> None:
    fake_kube.fail_next(1, 422, method="POST", message="spec.templates: Invalid value")
    with pytest.raises(PermanentEngineError, match="Invalid value") as refused:
        await engine.submit(make_job(), kube_settings.environments[0])
    assert not refused.value.retryable


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
    clock = VirtualClock(dt.datetime.now(dt.UTC), auto=False)
    engine = ArgoEngine(kube_settings, kube_client, clock=clock, watchdog_interval=10)
    recorder = ObservationRecorder()
    task = asyncio.create_task(engine.watch(recorder))
    try:
        await fake_kube.wait_watches(2)
        name = await engine.submit(make_job(), kube_settings.environments[0])
        fake_kube.set_step(NS, name, "configure", "Running")
        await recorder.wait_for(lambda obs: "configure" in obs.steps)
        await clock.wait_sleeping()
        await clock.advance(10)  # one watchdog pass within the deadline: left alone
        await clock.wait_sleeping()
        assert not any(obs.finished for obs in recorder.seen)

        deadline = fake_kube.workflow(NS, name)["spec"]["activeDeadlineSeconds"]
        await clock.advance(deadline + OVERDUE_GRACE)
        overdue = await recorder.wait_for(lambda obs: obs.finished)
        assert overdue.deadline_exceeded and overdue.phase is Phase.FAILED
        assert "past its" in (overdue.message or "") and "watchdog" in (overdue.message or "")
        await clock.wait_sleeping()
        await clock.advance(10)  # the next pass finds the same workflow version
        await clock.wait_sleeping()
        assert [obs.finished for obs in recorder.seen].count(True) == 1  # reported once
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_an_algorithm_whose_image_cannot_be_pulled_is_stopped_with_the_reason(
    kube_settings: Settings, kube_client: KubeClient, fake_kube: FakeKube
) -> None:
    """Found on a real node: Kubernetes retries a pull for ever and Argo leaves the step Pending
    with the kubelet's reason as its message. After the grace the engine stops the workflow (so
    publish still runs) and writes why; the finished workflow carries it to the job's error."""
    settings = dataclasses.replace(kube_settings, start_grace=30)
    clock = VirtualClock(dt.datetime.now(dt.UTC), auto=False)
    engine = ArgoEngine(settings, kube_client, clock=clock, watchdog_interval=10)
    recorder = ObservationRecorder()
    task = asyncio.create_task(engine.watch(recorder))
    pull = 'ErrImagePull: failed to pull and unpack image "org/algo:1": not found'
    try:
        await fake_kube.wait_watches(2)
        job = make_job()
        name = await engine.submit(job, settings.environments[0])
        fake_kube.set_step(NS, name, "configure", "Succeeded", exit_code=0)
        fake_kube.set_step(NS, name, "algorithm", "Pending", message=pull)
        await recorder.wait_for(lambda obs: "algorithm" in obs.steps)
        await clock.wait_sleeping()
        assert "shutdown" not in fake_kube.workflow(NS, name)["spec"]  # within the grace

        await clock.advance(30)  # no new event: the watchdog's pass decides
        await clock.wait_sleeping()
        workflow = fake_kube.workflow(NS, name)
        assert workflow["spec"]["shutdown"] == "Stop"
        reason = workflow["metadata"]["annotations"][STOP_REASON_ANNOTATION]
        assert reason == f"the algorithm could not start: {pull}"

        fake_kube.set_step(NS, name, "publish", "Succeeded", exit_code=0, result={"files": []})
        fake_kube.finish(NS, name, "Failed")
        final = await recorder.wait_for(lambda obs: obs.finished)
        assert final.stop_reason == reason
        update = decide_update(dataclasses.replace(job, status=JobStatus.PROVISIONED), final)
        assert update is not None and update.finished and update.error == reason
        assert update.status is JobStatus.FINISHED
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_placed_environment_reaches_the_cluster_with_its_placement(
    kube_settings: Settings, kube_client: KubeClient, fake_kube: FakeKube
) -> None:
    placement = PodPlacement(
        node_selector={"node-pool": "gpu"},
        tolerations=({"key": "dedicated", "operator": "Equal", "value": "gpu"},),
        priority_class_name="c2d-gpu",
        runtime_class_name="gvisor",
        image_pull_secrets=("algorithm-images",),
        image_pull_policy="Always",
    )
    environment = dataclasses.replace(kube_settings.environments[0], placement=placement)
    settings = dataclasses.replace(kube_settings, environments=(environment,))
    engine = ArgoEngine(settings, kube_client)
    name = await engine.submit(make_job(), environment)
    spec = fake_kube.workflow(NS, name)["spec"]
    assert spec["nodeSelector"] == {"node-pool": "gpu"}
    assert spec["tolerations"] == [{"key": "dedicated", "operator": "Equal", "value": "gpu"}]
    assert spec["podPriorityClassName"] == "c2d-gpu"
    assert spec["imagePullSecrets"] == [{"name": "algorithm-images"}]
    algorithm = next(t for t in spec["templates"] if t["name"] == "algorithm")
    assert algorithm["podSpecPatch"] == '{"runtimeClassName": "gvisor"}'
    assert algorithm["container"]["imagePullPolicy"] == "Always"


@pytest.mark.kube_fake_only
async def test_a_misspelt_placement_field_stops_the_engine_before_it_connects(
    kube_settings: Settings, fake_kube: FakeKube
) -> None:
    affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{}]}}
    wrong = dataclasses.replace(
        kube_settings.environments[1], placement=PodPlacement(affinity=affinity)
    )
    settings = dataclasses.replace(
        kube_settings, environments=(kube_settings.environments[0], wrong)
    )
    with pytest.raises(ConfigurationError, match=r"\(gpu\)\.affinity\..*preference"):
        await ArgoEngine.from_settings(settings)
    assert fake_kube.requests == []
