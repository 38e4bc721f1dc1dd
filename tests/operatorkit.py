"""Helpers for tests that run the whole operator in-process and talk to it over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from operator_argo.app import Runtime, background, build_app, open_runtime
from operator_argo.config import Settings

API = "/api/v1/operator"


@contextlib.asynccontextmanager
async def running_operator(settings: Settings) -> AsyncIterator[tuple[Runtime, TestClient]]:
    """The operator with its background loops, and an HTTP client for its API."""
    crashed = asyncio.Event()
    async with (
        open_runtime(settings) as runtime,
        background(runtime, crashed),
        TestClient(TestServer(build_app(runtime))) as client,
    ):
        yield runtime, client
    assert not crashed.is_set(), "a background loop crashed"


async def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll `check` (sync or async) until it returns something truthy, or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


async def job_status(client: TestClient, job_id: str) -> dict[str, Any]:
    """The job's status object from GET /compute."""
    resp = await client.get(f"{API}/compute", params={"jobId": job_id})
    assert resp.status == 200, await resp.text()
    (job,) = await resp.json()
    return dict(job)


def status_is(client: TestClient, job_id: str, *statuses: int) -> Callable[[], Any]:
    """A check for `eventually`: the job's status is one of `statuses`."""

    async def check() -> bool:
        return (await job_status(client, job_id))["status"] in statuses

    return check


async def finished(client: TestClient, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until the job has a dateFinished; return its status object."""

    async def check() -> dict[str, Any] | None:
        job = await job_status(client, job_id)
        return job if job["dateFinished"] is not None else None

    return dict(await eventually(check, timeout))


async def start_job(client: TestClient, body: dict[str, Any]) -> str:
    """POST /compute; the job must be accepted as status 1. Returns its id."""
    resp = await client.post(f"{API}/compute", json=body)
    assert resp.status == 200, await resp.text()
    (job,) = await resp.json()
    assert job["status"] == 1 and job["statusText"] == "Warming up"
    return str(job["jobId"])
