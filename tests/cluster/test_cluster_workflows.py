"""The real API server serves Argo Workflows the way operator-argo relies on (kubernetes.aio)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes.aio import client, config, watch
from kubernetes.aio.client.exceptions import ApiException

from tests.cluster.control_plane import ControlPlane

GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "workflows"
MANAGED = "app.kubernetes.io/managed-by=operator-argo"


def workflow(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Workflow",
        "metadata": {
            "name": name,
            "labels": {
                "app.kubernetes.io/managed-by": "operator-argo",
                "operator-argo/job-id": name,
            },
        },
        "spec": {
            "entrypoint": "main",
            "onExit": "publish",
            "templates": [
                {"name": "main", "container": {"image": "busybox", "command": ["true"]}},
                {"name": "publish", "container": {"image": "busybox", "command": ["true"]}},
            ],
        },
    }


@pytest.fixture
async def objects(real_kube: ControlPlane) -> AsyncIterator[client.CustomObjectsApi]:
    api_client = await config.new_client_from_config(
        config_file=str(real_kube.kubeconfig), persist_config=False
    )
    async with api_client:
        yield client.CustomObjectsApi(api_client)


async def test_kubeconfig_unpacks_to_a_live_server(real_kube: ControlPlane) -> None:
    kubeconfig, server = real_kube
    api_client = await config.new_client_from_config(config_file=kubeconfig, persist_config=False)
    async with api_client:
        version = await client.VersionApi(api_client).get_code()
    assert server.startswith("https://127.0.0.1:")
    assert (version.major, version.minor) == ("1", "34")


async def test_create_get_patch_delete(
    objects: client.CustomObjectsApi, real_kube_namespace: str
) -> None:
    ns = real_kube_namespace
    created = await objects.create_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, workflow("c2d-a")
    )
    assert created["metadata"]["uid"]
    with pytest.raises(ApiException) as exists:
        await objects.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, workflow("c2d-a"))
    assert exists.value.status == 409

    patched = await objects.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        ns,
        PLURAL,
        "c2d-a",
        {"spec": {"shutdown": "Stop"}},
        _content_type="application/merge-patch+json",
    )
    assert patched["spec"]["shutdown"] == "Stop"
    assert patched["spec"]["onExit"] == "publish"  # merge patch keeps the rest of the spec
    assert int(patched["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])

    listed = await objects.list_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, label_selector=MANAGED
    )
    assert [w["metadata"]["name"] for w in listed["items"]] == ["c2d-a"]

    await objects.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "c2d-a")
    with pytest.raises(ApiException) as gone:
        await objects.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "c2d-a")
    assert gone.value.status == 404


async def test_stale_resource_version_conflicts(
    objects: client.CustomObjectsApi, real_kube_namespace: str
) -> None:
    ns = real_kube_namespace
    first = await objects.create_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, workflow("c2d-b")
    )
    await objects.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        ns,
        PLURAL,
        "c2d-b",
        {"metadata": {"annotations": {"x": "1"}}},
        _content_type="application/merge-patch+json",
    )
    with pytest.raises(ApiException) as conflict:
        await objects.replace_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "c2d-b", first)
    assert conflict.value.status == 409


async def test_invalid_name_is_rejected(
    objects: client.CustomObjectsApi, real_kube_namespace: str
) -> None:
    with pytest.raises(ApiException) as invalid:
        await objects.create_namespaced_custom_object(
            GROUP, VERSION, real_kube_namespace, PLURAL, workflow("C2D_Not_A_DNS_Name")
        )
    assert invalid.value.status == 422


async def test_watch_resumes_from_resource_version(
    objects: client.CustomObjectsApi, real_kube_namespace: str
) -> None:
    ns = real_kube_namespace
    await objects.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, workflow("c2d-old"))
    listed = await objects.list_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, label_selector=MANAGED
    )
    since = listed["metadata"]["resourceVersion"]

    async def changes() -> None:
        await objects.create_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL, workflow("c2d-new")
        )
        await objects.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            ns,
            PLURAL,
            "c2d-new",
            {"spec": {"shutdown": "Stop"}},
            _content_type="application/merge-patch+json",
        )
        await objects.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "c2d-new")

    writer = asyncio.create_task(changes())
    seen: list[tuple[str, str, str | None]] = []
    async with watch.Watch() as stream:
        async for event in stream.stream(
            objects.list_namespaced_custom_object,
            GROUP,
            VERSION,
            ns,
            PLURAL,
            label_selector=MANAGED,
            resource_version=since,
            timeout_seconds=10,
        ):
            obj = event["object"]
            seen.append((event["type"], obj["metadata"]["name"], obj["spec"].get("shutdown")))
            if event["type"] == "DELETED":
                break
    await writer
    # Nothing from before `since` (c2d-old) is replayed; every later change arrives in order.
    assert seen == [
        ("ADDED", "c2d-new", None),
        ("MODIFIED", "c2d-new", "Stop"),
        ("DELETED", "c2d-new", "Stop"),
    ]
