"""ArgoEngine.follow_log against the fake API: the algorithm pod's log, followed as it grows."""

from __future__ import annotations

import asyncio

import pytest

from operator_argo.config import Settings
from operator_argo.domain.errors import NotFound
from operator_argo.domain.names import STEP_LABEL, WORKFLOW_LABEL, workflow_name
from operator_argo.engines.argo.client import KubeClient
from operator_argo.engines.argo.engine import ArgoEngine
from tests.fakes.kube import FakeKube, sample_workflow
from tests.fakes.kube import sample_job as make_job

NS = "ocean-compute"
pytestmark = pytest.mark.kube_fake_only


def _algorithm_pod(fake_kube: FakeKube, workflow: str) -> str:
    pod = f"{workflow}-algorithm-1234"
    fake_kube.add_pod(
        NS, f"{workflow}-configure-99", {WORKFLOW_LABEL: workflow, STEP_LABEL: "configure"}
    )
    fake_kube.add_pod(NS, pod, {WORKFLOW_LABEL: workflow, STEP_LABEL: "algorithm"})
    return pod


async def _next(stream: object) -> bytes:
    async with asyncio.timeout(5):
        return await anext(stream)  # type: ignore[call-overload, no-any-return]


async def test_follows_the_algorithm_pod_log_until_the_container_ends(
    kube_settings: Settings, kube_client: KubeClient, fake_kube: FakeKube
) -> None:
    engine = ArgoEngine(kube_settings, kube_client)
    job = make_job()
    pod = _algorithm_pod(fake_kube, workflow_name(job.job_id))
    fake_kube.write_log(NS, pod, b"line 1\n")
    stream = engine.follow_log(job)
    assert await _next(stream) == b"line 1\n"
    fake_kube.write_log(NS, pod, b"line 2\n")  # written after the stream began: still followed
    assert await _next(stream) == b"line 2\n"
    fake_kube.write_log(NS, pod, b"last\n", end=True)
    assert await _next(stream) == b"last\n"
    with pytest.raises(StopAsyncIteration):
        await _next(stream)
    assert ("GET", f"/api/v1/namespaces/{NS}/pods/{pod}/log?container=main&follow=true") in (
        fake_kube.requests
    )


async def test_the_log_ends_when_the_workflow_is_deleted(
    kube_settings: Settings, kube_client: KubeClient, fake_kube: FakeKube
) -> None:
    engine = ArgoEngine(kube_settings, kube_client)
    job = make_job()
    name = workflow_name(job.job_id)
    fake_kube.add_workflow(NS, sample_workflow(job.job_id))
    pod = _algorithm_pod(fake_kube, name)
    fake_kube.write_log(NS, pod, b"working\n")
    stream = engine.follow_log(job)
    assert await _next(stream) == b"working\n"
    await engine.delete(job)
    with pytest.raises(StopAsyncIteration):
        await _next(stream)


async def test_no_algorithm_pod_yet_is_not_found(
    kube_settings: Settings, kube_client: KubeClient
) -> None:
    engine = ArgoEngine(kube_settings, kube_client)
    with pytest.raises(NotFound):
        await _next(engine.follow_log(make_job()))
