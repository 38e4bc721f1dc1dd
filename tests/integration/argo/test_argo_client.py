"""The kubernetes.aio-based client against the fake API server: CRUD, patch, watch, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from operator_argo.config import Settings
from operator_argo.domain.errors import (
    EngineMisconfigured,
    NotFound,
    PermanentEngineError,
    TransientEngineError,
)
from operator_argo.domain.names import MANAGED_SELECTOR, job_id_of, workflow_name
from operator_argo.engines.argo.client import AlreadyExists, Gone, KubeClient, WatchEvent
from tests.fakes.kube import FakeKube
from tests.kit.kube import TestingKubeClient

NS = "ocean-compute"


def workflow(name: str, *, managed: bool = True) -> dict:
    labels = {"operator-argo/job-id": job_id_of(name)}
    if managed:
        labels["app.kubernetes.io/managed-by"] = "operator-argo"
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "labels": labels},
        "spec": {"entrypoint": "main", "templates": [{"name": "main"}]},
    }


async def test_create_get_list_patch_delete(
    kube_client: TestingKubeClient, fake_kube: FakeKube
) -> None:
    created = await kube_client.create_workflow(NS, workflow(workflow_name("a")))
    assert created["metadata"]["resourceVersion"]
    await kube_client.create_workflow(NS, workflow(workflow_name("other"), managed=False))
    got = await kube_client.get_workflow(NS, workflow_name("a"))
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    listed = await kube_client.list_workflows(NS, label_selector=MANAGED_SELECTOR)
    assert [item["metadata"]["name"] for item in listed.items] == [workflow_name("a")]
    assert int(listed.resource_version) >= int(created["metadata"]["resourceVersion"])
    patched = await kube_client.patch_workflow(
        NS, workflow_name("a"), {"spec": {"shutdown": "Stop"}}
    )
    assert patched["spec"] == {
        "entrypoint": "main",
        "templates": [{"name": "main"}],
        "shutdown": "Stop",
    }
    assert fake_kube.workflow(NS, workflow_name("a"))["spec"]["shutdown"] == "Stop"
    await kube_client.delete_workflow(NS, workflow_name("a"))
    assert (NS, workflow_name("a")) not in fake_kube.workflows
    with pytest.raises(NotFound):
        await kube_client.get_workflow(NS, workflow_name("a"))
    with pytest.raises(NotFound):
        await kube_client.delete_workflow(NS, workflow_name("a"))


async def test_duplicate_create_is_already_exists(kube_client: TestingKubeClient) -> None:
    await kube_client.create_workflow(NS, workflow(workflow_name("dup")))
    with pytest.raises(AlreadyExists, match="already exists"):
        await kube_client.create_workflow(NS, workflow(workflow_name("dup")))


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, TransientEngineError),
        (503, TransientEngineError),
        (429, TransientEngineError),
        (403, EngineMisconfigured),
        (401, EngineMisconfigured),
        (400, EngineMisconfigured),
        (422, PermanentEngineError),
        (413, PermanentEngineError),
        (404, NotFound),
        (410, Gone),
    ],
)
@pytest.mark.kube_fake_only
async def test_errors_are_translated(
    kube_client: TestingKubeClient, fake_kube: FakeKube, status: int, error: type[Exception]
) -> None:
    fake_kube.fail_next(1, status)
    with pytest.raises(error) as caught:
        await kube_client.get_workflow(NS, workflow_name("x"))
    assert caught.value.__cause__ is not None
    if status == 403:
        assert f"get workflows/{workflow_name('x')} in ocean-compute" in str(caught.value)


async def test_invalid_workflow_is_permanent(kube_client: TestingKubeClient) -> None:
    with pytest.raises(PermanentEngineError, match="422"):
        # No name and no spec: both the fake and a real API server answer 422 (Invalid).
        body = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {}}
        await kube_client.create_workflow(NS, body)


@pytest.mark.kube_fake_only
async def test_unreachable_server_is_transient(
    kube_client: TestingKubeClient, fake_kube: FakeKube
) -> None:
    await fake_kube.stop()
    with pytest.raises(TransientEngineError, match="unreachable"):
        await kube_client.list_workflows(NS)


@pytest.mark.kube_fake_only
async def test_watch_streams_events_and_bookmarks(
    kube_client: TestingKubeClient, fake_kube: FakeKube
) -> None:
    listed = await kube_client.list_workflows(NS, label_selector=MANAGED_SELECTOR)
    fake_kube.add_workflow(NS, workflow(workflow_name("w")))
    fake_kube.add_workflow(NS, workflow(workflow_name("unmanaged"), managed=False))
    fake_kube.set_step(NS, workflow_name("w"), "configure", "Running")
    events: list[WatchEvent] = []
    async for event in kube_client.watch_workflows(
        NS,
        label_selector=MANAGED_SELECTOR,
        resource_version=listed.resource_version,
        timeout_seconds=1,
    ):
        events.append(event)
    kinds = [event.type for event in events]
    assert kinds[:2] == ["ADDED", "MODIFIED"]
    assert "BOOKMARK" in kinds[2:]
    assert {e.object["metadata"]["name"] for e in events if e.type != "BOOKMARK"} == {
        workflow_name("w")
    }
    assert events[1].object["status"]["phase"] == "Running"


@pytest.mark.kube_fake_only
async def test_watch_from_compacted_version_is_gone(
    kube_client: TestingKubeClient, fake_kube: FakeKube
) -> None:
    listed = await kube_client.list_workflows(NS)
    fake_kube.add_workflow(NS, workflow(workflow_name("g")))
    fake_kube.compact()
    with pytest.raises(Gone):
        async for _ in kube_client.watch_workflows(
            NS, resource_version=listed.resource_version, timeout_seconds=1
        ):
            pass


@pytest.mark.kube_fake_only
async def test_dropped_watch_is_transient(
    kube_client: TestingKubeClient, fake_kube: FakeKube
) -> None:
    fake_kube.add_workflow(NS, workflow(workflow_name("d")))
    with pytest.raises(TransientEngineError):
        async for event in kube_client.watch_workflows(NS, timeout_seconds=10):
            assert event.type == "ADDED"
            fake_kube.drop_watches()


@pytest.mark.kube_fake_only
async def test_a_404_of_the_collection_is_a_misconfiguration_not_a_missing_workflow(
    kube_client: TestingKubeClient, fake_kube: FakeKube
) -> None:
    fake_kube.fail_next(1, 404, method="POST", message='namespaces "ocean-compute" not found')
    with pytest.raises(EngineMisconfigured, match="not found") as missing:
        await kube_client.create_workflow(NS, workflow(workflow_name("n")))
    assert missing.value.retryable
    fake_kube.fail_next(1, 404, method="GET", message="the server could not find the resource")
    with pytest.raises(EngineMisconfigured):
        await kube_client.list_workflows(NS)


@pytest.mark.kube_fake_only
async def test_fake_answers_410_to_a_list_from_before_its_history(fake_kube: FakeKube) -> None:
    fake_kube.add_workflow(NS, workflow(workflow_name("h")))
    fake_kube.compact()
    url = f"{fake_kube.url}/apis/argoproj.io/v1alpha1/namespaces/{NS}/workflows?resourceVersion=1"
    headers = {"Authorization": "Bearer fake-token"}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        body = await response.json()
    assert response.status == 410
    assert (body["kind"], body["code"], body["reason"]) == ("Status", 410, "Expired")


@pytest.fixture
async def refusing_proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP proxy on 127.0.0.1 that records what it is asked for and answers 503."""
    asked: list[str] = []

    async def refuse(request: web.Request) -> web.Response:
        asked.append(f"{request.method} {request.raw_path}")
        return web.Response(status=503, text="proxy says no")

    server = web.Server(refuse)
    runner = web.ServerRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}", asked
    await runner.cleanup()


def _without_proxies(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


async def test_proxy_variables_set_at_start_are_honoured(
    kube_settings: Settings,
    fake_kube: FakeKube,
    refusing_proxy: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    proxy, asked = refusing_proxy
    _without_proxies(monkeypatch, tmp_path)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    client = await KubeClient.connect(kube_settings)
    try:
        with pytest.raises(TransientEngineError):
            await client.submit_workflow(NS, workflow(workflow_name("proxied")))
    finally:
        await client.close()
    assert len(asked) == 1  # through the proxy, not straight to the API server


async def test_without_proxy_or_netrc_the_session_does_not_look_for_them_per_request(
    kube_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async def session_reads_environment(name: str) -> bool:
        client = await KubeClient.connect(kube_settings)
        try:
            await client.submit_workflow(NS, workflow(name))
            return bool(client._api.rest_client.pool_manager.trust_env)
        finally:
            await client.close()

    _without_proxies(monkeypatch, tmp_path)
    assert await session_reads_environment(workflow_name("direct")) is False
    (tmp_path / "netrc").write_text("machine example login a password b\n", encoding="utf-8")
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert await session_reads_environment(workflow_name("with-netrc")) is True


@pytest.mark.kube_fake_only  # counts the fake's connections; the real server's are in the bench
async def test_submissions_keep_their_connection_alive(
    kube_client: TestingKubeClient, fake_kube: FakeKube
) -> None:
    # A create whose answer is released unread closes its connection: a new TCP (and, on a
    # real API server, TLS) handshake for the next one. A large answer arrives in pieces.
    fake_kube.create_padding = 1 << 20
    before = fake_kube.connections()
    for index in range(20):
        await kube_client.submit_workflow(NS, workflow(workflow_name(f"kept-{index}")))
    assert fake_kube.connections() - before <= 1
