"""operator-argo's KubeClient against the real API server, driven by the fake's test controls."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from operator_argo.config import Settings
from operator_argo.domain.errors import NotFound, PermanentEngineError
from operator_argo.engines.argo.client import AlreadyExists, Gone, WatchEvent
from tests.cluster.real_kube import FakeOnlyControl, RealKube
from tests.fakes.kube import node_id, sample_workflow
from tests.kit.kube import TestingKubeClient

NS = "ocean-compute"
MANAGED = "app.kubernetes.io/managed-by=operator-argo"


@pytest.fixture
async def kube_client(
    real_kube_driver: RealKube, tmp_path: Path
) -> AsyncIterator[TestingKubeClient]:
    kubeconfig = real_kube_driver.write_kubeconfig(tmp_path / "kubeconfig")
    client = await TestingKubeClient.connect(Settings(engine="argo", kubeconfig=str(kubeconfig)))
    yield client
    await client.close()


async def collect(
    client: TestingKubeClient, since: str, count: int, *, timeout: int = 10
) -> list[WatchEvent]:
    events: list[WatchEvent] = []
    stream = client.watch_workflows(
        NS, label_selector=MANAGED, resource_version=since, timeout_seconds=timeout
    )
    async with contextlib.aclosing(stream):  # leaving early releases the watch's connection now
        async for event in stream:
            if event.type != "BOOKMARK":
                events.append(event)
            if len(events) == count:
                break
    return events


async def test_create_is_idempotent_by_name(kube_client: TestingKubeClient) -> None:
    created = await kube_client.create_workflow(NS, sample_workflow("j1"))
    assert created["metadata"]["name"] == "c2d-j1"
    with pytest.raises(AlreadyExists):
        await kube_client.create_workflow(NS, sample_workflow("j1"))
    with pytest.raises(NotFound):
        await kube_client.get_workflow(NS, "c2d-missing")


async def test_controller_writes_reach_the_watch(
    kube_client: TestingKubeClient, real_kube_driver: RealKube
) -> None:
    await kube_client.create_workflow(NS, sample_workflow("j2"))
    since = (await kube_client.list_workflows(NS, label_selector=MANAGED)).resource_version
    watching = asyncio.create_task(collect(kube_client, since, 3))
    await real_kube_driver.wait_watches(1)

    real_kube_driver.set_step(NS, "c2d-j2", "algorithm", "Failed", exit_code=3)
    real_kube_driver.finish(NS, "c2d-j2", "Failed", message="child failed")
    real_kube_driver.delete_behind(NS, "c2d-j2")
    events = await asyncio.wait_for(watching, 20)

    assert [e.type for e in events] == ["MODIFIED", "MODIFIED", "DELETED"]
    node = events[0].object["status"]["nodes"][node_id("c2d-j2", "algorithm")]
    assert (node["phase"], node["outputs"]["exitCode"]) == ("Failed", "3")
    finished = events[1].object
    assert finished["status"]["phase"] == "Failed"
    assert finished["metadata"]["labels"]["workflows.argoproj.io/completed"] == "true"


async def test_merge_patch_keeps_status(
    kube_client: TestingKubeClient, real_kube_driver: RealKube
) -> None:
    await kube_client.create_workflow(NS, sample_workflow("j3"))
    real_kube_driver.set_step(NS, "c2d-j3", "configure", "Running")
    patched = await kube_client.patch_workflow(NS, "c2d-j3", {"spec": {"shutdown": "Stop"}})
    assert patched["spec"]["shutdown"] == "Stop"
    assert patched["status"]["phase"] == "Running"  # minimal CRD: no status subresource


async def test_watch_from_a_forgotten_version_is_gone(kube_client: TestingKubeClient) -> None:
    with pytest.raises(Gone):
        await collect(kube_client, "1", 1)


async def test_invalid_object_is_a_permanent_error(kube_client: TestingKubeClient) -> None:
    body = sample_workflow("j4")
    body["metadata"]["name"] = "Not_A_Name"
    with pytest.raises(PermanentEngineError):
        await kube_client.create_workflow(NS, body)


async def test_fake_only_controls_say_so(real_kube_driver: RealKube) -> None:
    with pytest.raises(FakeOnlyControl, match="--kube=fake"):
        real_kube_driver.compact()
