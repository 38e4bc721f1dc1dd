"""GET /getResult: whole files, ranges, owner and index errors, and no storage details."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.api.conftest import PREFIX, Api

CONTENT = bytes(range(256)) * 4  # 1024 bytes, every byte value


async def _finished(api: Api) -> dict[str, Any]:
    job = await api.start()
    await api.finish(job["jobId"], {"result.csv": CONTENT, "algorithm.log": b"log line\n"})
    return job


def _query(api: Api, job: dict[str, Any], index: Any, owner: str | None = None) -> dict[str, str]:
    owner = job["owner"] if owner is None else owner
    query = api.signed_query(owner=owner, job_id=job["jobId"], index=str(index))
    query["consumerSignature"] = "0xignored"
    return query


async def test_whole_file(api: Api) -> None:
    job = await _finished(api)
    response = await api.client.get(f"{PREFIX}/getResult", params=_query(api, job, 0))
    assert response.status == 200
    assert await response.read() == CONTENT
    assert response.headers["Content-Disposition"] == "attachment;filename=result.csv"
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Length"] == str(len(CONTENT))
    assert "Content-Range" not in response.headers
    assert response.headers["Accept-Ranges"] == "bytes"
    assert len(response.headers["X-Request-Id"]) == 32


async def test_second_file_and_its_type(api: Api) -> None:
    job = await _finished(api)
    response = await api.client.get(f"{PREFIX}/getResult", params=_query(api, job, 1))
    assert response.status == 200
    assert await response.read() == b"log line\n"
    assert response.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 1),
        ("bytes=10-19", 10, 20),
        ("bytes=1000-", 1000, 1024),
        ("bytes=-24", 1000, 1024),
        ("bytes=1000-5000", 1000, 1024),
        ("bytes=-5000", 0, 1024),
        ("bytes=0-1023", 0, 1024),
    ],
)
async def test_range_gives_the_exact_slice(api: Api, header: str, start: int, end: int) -> None:
    job = await _finished(api)
    response = await api.client.get(
        f"{PREFIX}/getResult", params=_query(api, job, 0), headers={"Range": header}
    )
    assert response.status == 206
    assert await response.read() == CONTENT[start:end]
    assert response.headers["Content-Range"] == f"bytes {start}-{end - 1}/1024"
    assert response.headers["Content-Length"] == str(end - start)


@pytest.mark.parametrize(
    "header",
    [
        "bytes=1024-",
        "bytes=2000-3000",
        "bytes=5-2",
        "bytes=-0",
        "items=0-1",
        "bytes=0-1,4-5",
        "garbage",
    ],
)
async def test_unsatisfiable_range_is_416(api: Api, header: str) -> None:
    job = await _finished(api)
    response = await api.client.get(
        f"{PREFIX}/getResult", params=_query(api, job, 0), headers={"Range": header}
    )
    assert response.status == 416
    assert response.headers["Content-Range"] == "bytes */1024"
    assert "error" in await response.json()


async def test_owner_mismatch_is_not_found(api: Api) -> None:
    job = await _finished(api)
    other = "0x" + "9" * 40
    response = await api.client.get(f"{PREFIX}/getResult", params=_query(api, job, 0, other))
    assert response.status == 404
    assert "error" in await response.json()


async def test_owner_compares_case_insensitively(api: Api) -> None:
    job = await _finished(api)
    params = _query(api, job, 0, job["owner"].lower())
    response = await api.client.get(f"{PREFIX}/getResult", params=params)
    assert response.status == 200


@pytest.mark.parametrize("index", [2, -1, 99999999999])
async def test_index_outside_the_list(api: Api, index: int) -> None:
    job = await _finished(api)
    response = await api.client.get(f"{PREFIX}/getResult", params=_query(api, job, index))
    assert response.status == 404
    assert await response.json() == {"error": f"No such index {index} in this compute job"}


async def test_no_results_yet(api: Api) -> None:
    job = await api.start()
    response = await api.client.get(f"{PREFIX}/getResult", params=_query(api, job, 0))
    assert response.status == 404
    assert await response.json() == {"error": "No such index 0 in this compute job"}


@pytest.mark.parametrize("index", ["one", "1.5", "", "0x1", "1e3"])
async def test_non_integer_index_is_a_bad_request(api: Api, index: str) -> None:
    job = await _finished(api)
    response = await api.client.get(f"{PREFIX}/getResult", params=_query(api, job, index))
    assert response.status == 400


async def test_unknown_job_is_not_found(api: Api) -> None:
    job = {"jobId": "ab" * 16, "owner": "0x" + "1" * 40}
    response = await api.client.get(f"{PREFIX}/getResult", params=_query(api, job, 0))
    assert response.status == 404


async def test_signature_is_required_and_bound_to_the_job(api: Api) -> None:
    job = await _finished(api)
    query = _query(api, job, 0)
    query["providerSignature"] = api.sign(job["owner"], "ff" * 16, nonce=int(query["nonce"]))
    response = await api.client.get(f"{PREFIX}/getResult", params=query)
    assert response.status == 401


async def test_storage_keys_never_reach_the_client(api: Api) -> None:
    job = await _finished(api)
    response = await api.client.get(f"{PREFIX}/getResult", params=_query(api, job, 0))
    headers = " ".join(f"{key}: {value}" for key, value in response.headers.items())
    assert f"{job['jobId']}/result.csv" not in headers
    status = await api.client.get(
        f"{PREFIX}/compute", params=api.signed_query(owner=job["owner"], job_id=job["jobId"])
    )
    (listed,) = await status.json()
    assert listed["results"] == [
        {"filename": "result.csv", "filesize": 1024, "type": "output"},
        {"filename": "algorithm.log", "filesize": 9, "type": "output"},
    ]


async def test_deleted_results_are_gone(api: Api) -> None:
    job = await _finished(api)
    delete = await api.client.delete(
        f"{PREFIX}/compute", params=api.signed_query(owner=job["owner"], job_id=job["jobId"])
    )
    assert delete.status == 200
    response = await api.client.get(f"{PREFIX}/getResult", params=_query(api, job, 0))
    assert response.status == 404


async def test_a_file_name_cannot_inject_headers(api: Api) -> None:
    job = await api.start()
    await api.finish(job["jobId"], {'evil";\r\nX-Injected: 1.txt': b"x"})
    response = await api.client.get(f"{PREFIX}/getResult", params=_query(api, job, 0))
    assert response.status == 200
    assert "X-Injected" not in response.headers
    assert "\n" not in response.headers["Content-Disposition"]


async def test_an_unexpected_storage_failure_is_a_bare_500(api: Api) -> None:
    job = await _finished(api)
    api.results.broken = True
    response = await api.client.get(f"{PREFIX}/getResult", params=_query(api, job, 0))
    assert response.status == 500
    assert await response.json() == {"error": "Internal server error"}
    assert (await api.client.get("/healthz")).status == 200
