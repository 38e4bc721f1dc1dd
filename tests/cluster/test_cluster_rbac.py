"""The chart's RBAC, applied to a real API server, is exactly what the operator's client needs."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from operator_argo.config import Settings
from operator_argo.domain.errors import EngineMisconfigured, NotFound
from operator_argo.engines.argo.client import KubeClient
from tests.cluster.control_plane import ControlPlane, request_json, write_kubeconfig
from tests.cluster.rbac import (
    apply_objects,
    can_i,
    ensure_namespaces,
    jobs_in,
    render_rbac,
    request_token,
)
from tests.fakes.kube import sample_workflow
from tests.kit.kube import TestingKubeClient

RELEASE_NS, JOBS_NS, OTHER_NS = "operator-system", "rbac-jobs", "rbac-other"
MANAGED = "app.kubernetes.io/managed-by=operator-argo"
WORKFLOWS = "argoproj.io/workflows"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Accounts:
    operator: str  # token of the chart's operator service account, RBAC applied
    executor: str  # token of the job pods' executor account in the jobs namespace
    unbound: str  # token of an operator account whose chart RBAC was never applied


def _account(objects: list[dict], namespace: str) -> str:
    (name,) = [
        o["metadata"]["name"]
        for o in objects
        if o["kind"] == "ServiceAccount" and o["metadata"]["namespace"] == namespace
    ]
    return name


@pytest.fixture(scope="module")
def accounts(real_kube: ControlPlane) -> Accounts:
    ensure_namespaces(real_kube, RELEASE_NS, JOBS_NS, OTHER_NS)
    env = jobs_in(JOBS_NS)
    chart = render_rbac("op", RELEASE_NS, env)
    apply_objects(real_kube, chart)
    bare = [o for o in render_rbac("bare", RELEASE_NS, env) if o["kind"] == "ServiceAccount"]
    apply_objects(real_kube, [o for o in bare if o["metadata"]["namespace"] == RELEASE_NS])
    tokens = Accounts(
        operator=request_token(real_kube, RELEASE_NS, _account(chart, RELEASE_NS)),
        executor=request_token(real_kube, JOBS_NS, _account(chart, JOBS_NS)),
        unbound=request_token(real_kube, RELEASE_NS, _account(bare, RELEASE_NS)),
    )
    _wait_for(lambda: can_i(real_kube, tokens.operator, "create", WORKFLOWS, JOBS_NS))
    return tokens


def _wait_for(check: Callable[[], bool], seconds: float = 10.0) -> None:
    """RBAC objects reach the authorizer through an informer: allow it a moment."""
    for _ in range(int(seconds / 0.1)):
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("the chart's RBAC never took effect")


async def _client_for(plane: ControlPlane, token: str, path: Path) -> TestingKubeClient:
    kubeconfig = write_kubeconfig(
        path, server=plane.server, ca_file=plane.ca_file, token=token, user="sa"
    )
    return await TestingKubeClient.connect(Settings(engine="argo", kubeconfig=str(kubeconfig)))


@pytest.fixture
async def operator_client(
    real_kube: ControlPlane, accounts: Accounts, tmp_path: Path
) -> AsyncIterator[TestingKubeClient]:
    client = await _client_for(real_kube, accounts.operator, tmp_path / "operator.kubeconfig")
    yield client
    await client.close()


async def test_operator_account_does_its_whole_job(operator_client: KubeClient) -> None:
    client = operator_client
    await client.create_workflow(JOBS_NS, sample_workflow("r1"))
    assert (await client.get_workflow(JOBS_NS, "c2d-r1"))["metadata"]["name"] == "c2d-r1"
    listed = await client.list_workflows(JOBS_NS, label_selector=MANAGED)
    assert [w["metadata"]["name"] for w in listed.items] == ["c2d-r1"]

    patch = client.patch_workflow(JOBS_NS, "c2d-r1", {"spec": {"shutdown": "Stop"}})
    watched = client.watch_workflows(
        JOBS_NS, label_selector=MANAGED, resource_version=listed.resource_version, timeout_seconds=5
    )
    await patch
    async with contextlib.aclosing(watched):  # leaving early releases the watch's connection now
        async for event in watched:
            if event.type == "MODIFIED":
                assert event.object["spec"]["shutdown"] == "Stop"
                break
        else:
            raise AssertionError("the watch ended without the patch")

    await client.delete_workflow(JOBS_NS, "c2d-r1")
    with pytest.raises(NotFound):
        await client.get_workflow(JOBS_NS, "c2d-r1")


async def test_operator_account_is_refused_outside_its_namespaces(
    operator_client: KubeClient,
) -> None:
    with pytest.raises(EngineMisconfigured, match="RBAC"):
        await operator_client.create_workflow(OTHER_NS, sample_workflow("r2"))
    with pytest.raises(EngineMisconfigured):
        await operator_client.list_workflows(OTHER_NS)
    with pytest.raises(EngineMisconfigured):
        async for _ in operator_client.watch_workflows(OTHER_NS, timeout_seconds=1):
            pass


def test_operator_account_has_nothing_more(real_kube: ControlPlane, accounts: Accounts) -> None:
    granted = {
        (verb, resource)
        for resource in (WORKFLOWS, "pods", "secrets", "argoproj.io/workflowtaskresults")
        for verb in ("create", "get", "list", "watch", "patch", "update", "delete")
        if can_i(real_kube, accounts.operator, verb, resource, JOBS_NS)
    }
    verbs = ("create", "get", "list", "watch", "patch", "delete")
    assert granted == {(v, WORKFLOWS) for v in verbs} | {("get", "pods"), ("list", "pods")}


async def test_without_the_chart_rbac_the_client_fails_clearly(
    real_kube: ControlPlane, accounts: Accounts, tmp_path: Path
) -> None:
    client = await _client_for(real_kube, accounts.unbound, tmp_path / "bare.kubeconfig")
    try:
        with pytest.raises(
            EngineMisconfigured, match=r"create workflows/c2d-r3 in rbac-jobs \(HTTP 403\)"
        ):
            await client.create_workflow(JOBS_NS, sample_workflow("r3"))
    finally:
        await client.close()


def test_executor_account_only_records_task_results(
    real_kube: ControlPlane, accounts: Accounts
) -> None:
    assert can_i(real_kube, accounts.executor, "create", "argoproj.io/workflowtaskresults", JOBS_NS)
    assert not can_i(real_kube, accounts.executor, "get", WORKFLOWS, JOBS_NS)
    as_executor = dataclasses.replace(real_kube, token=accounts.executor)
    result = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTaskResult",
        "metadata": {"name": "c2d-r4-123"},
        "outputs": {"exitCode": "0"},
    }
    path = f"/apis/argoproj.io/v1alpha1/namespaces/{JOBS_NS}/workflowtaskresults"
    created = request_json(as_executor, "POST", path, result)
    assert created["metadata"]["name"] == "c2d-r4-123"  # type: ignore[index]
