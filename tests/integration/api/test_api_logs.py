"""GET /computeLogs: followed while the algorithm runs, published once finished, bounded."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import ClientResponse

from tests.integration.api.conftest import PREFIX, Api

LOGS = f"{PREFIX}/computeLogs"


async def _running(api: Api) -> tuple[dict[str, Any], asyncio.Queue[bytes | None]]:
    """A job claimed and submitted, whose algorithm's output the test writes."""
    job = await api.start()
    (claimed,) = await api.store.claim_batch("ocean-compute", 10, 10)
    await api.store.record_submission(claimed.job_id, f"c2d-{claimed.job_id}")
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    api.engine.logs[job["jobId"]] = queue
    return job, queue


async def _open(api: Api, job: dict[str, Any], owner: str | None = None) -> ClientResponse:
    owner = job["owner"] if owner is None else owner
    return await api.client.get(LOGS, params=api.signed_query(owner=owner, job_id=job["jobId"]))


async def _line(response: ClientResponse) -> bytes:
    async with asyncio.timeout(5):
        return await response.content.readline()


async def test_follows_the_output_line_by_line_and_ends_with_the_algorithm(api: Api) -> None:
    job, output = await _running(api)
    output.put_nowait(b"epoch 1\n")
    response = await _open(api, job)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert await _line(response) == b"epoch 1\n"
    output.put_nowait(b"epoch 2\n")  # written while the consumer is reading
    assert await _line(response) == b"epoch 2\n"
    output.put_nowait(None)
    async with asyncio.timeout(5):
        assert await response.read() == b""


async def test_a_finished_job_serves_its_published_algorithm_log(api: Api) -> None:
    job = await api.start()
    files = {"out.txt": b"not this", "algorithm.log": b"all of it\n"}
    await api.finish(job["jobId"], files, {"algorithm.log": "algorithmLog"})
    response = await _open(api, job)
    assert response.status == 200
    assert await response.read() == b"all of it\n"


async def test_a_job_that_finishes_while_followed_ends_the_stream(api: Api) -> None:
    job, output = await _running(api)
    output.put_nowait(b"half\n")
    response = await _open(api, job)
    assert await _line(response) == b"half\n"
    output.put_nowait(None)
    await api.finish(job["jobId"], {"algorithm.log": b"half\n"}, {"algorithm.log": "algorithmLog"})
    async with asyncio.timeout(5):
        assert await response.read() == b""  # what was sent is not sent again


async def test_deleting_the_job_closes_its_streams(api: Api) -> None:
    job, output = await _running(api)
    output.put_nowait(b"working\n")
    response = await _open(api, job)
    assert await _line(response) == b"working\n"
    query = api.signed_query(owner=job["owner"], job_id=job["jobId"])
    deleted = await api.client.delete(f"{PREFIX}/compute", params=query)
    assert deleted.status == 200
    async with asyncio.timeout(5):
        assert await response.read() == b""
    assert api.service.log_streams.held(job["owner"]) == 0


async def test_an_owner_holds_a_few_streams_at_most(make_api: Any) -> None:
    api: Api = await make_api(log_streams_per_owner=2)
    job, output = await _running(api)
    first, second = await _open(api, job), await _open(api, job)
    assert (first.status, second.status) == (200, 200)
    refused = await _open(api, job)
    assert refused.status == 429
    assert "at most 2 log streams" in (await refused.json())["error"]
    for _ in (first, second):  # the algorithm ends: both streams end, and their slots are free
        output.put_nowait(None)
    async with asyncio.timeout(5):
        await first.read()
        await second.read()
    api.engine.logs[job["jobId"]] = asyncio.Queue()
    again = await _open(api, job)
    assert again.status == 200
    again.close()


async def test_another_owner_or_a_bad_signature_gets_nothing(api: Api) -> None:
    job, _ = await _running(api)
    assert (await _open(api, job, owner="0x" + "1" * 40)).status == 404
    query = api.signed_query(owner=job["owner"], job_id=job["jobId"])
    query["providerSignature"] = "0x" + "00" * 65
    assert (await api.client.get(LOGS, params=query)).status == 401
