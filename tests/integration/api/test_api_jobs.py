"""GET/PUT/DELETE /compute: filters, the input rule, stops in every state, removal."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from operator_argo.domain.status import JobStatus
from tests.integration.api.conftest import PREFIX, Api, ApiFactory, example, next_nonce
from tests.kit.store import claim_next

FILTER_REQUIRED = {"error": "You have to specify one of agreementId, jobId or owner"}


async def _call(api: Api, method: str, **kwargs: Any) -> tuple[int, Any]:
    response = await api.client.request(method, f"{PREFIX}/compute", **kwargs)
    return response.status, await response.json()


async def test_get_by_job_id_matches_the_example_shape(api: Api) -> None:
    job = await api.start()
    status, payload = await _call(
        api, "GET", params=api.signed_query(owner=job["owner"], job_id=job["jobId"])
    )
    assert status == 200
    assert [item["jobId"] for item in payload] == [job["jobId"]]
    expected = example("GET-compute.response.running.json")[0]
    assert set(payload[0]) >= set(expected)
    for key, value in expected.items():
        assert type(payload[0][key]) is type(value), key


async def test_get_signed_without_job_id_lists_the_owners_jobs(api: Api) -> None:
    first = await api.start()
    second = await api.start()
    await api.start(owner="0x" + "0" * 39 + "1")
    status, payload = await _call(api, "GET", params=api.signed_query(owner=first["owner"]))
    assert status == 200
    assert [item["jobId"] for item in payload] == [first["jobId"], second["jobId"]]


async def test_filters_combine_with_and(api: Api) -> None:
    first = await api.start()
    second = await api.start()
    query = api.signed_query(owner=first["owner"], job_id=second["jobId"])
    query["agreementId"] = first["agreementId"]
    status, payload = await _call(api, "GET", params=query)
    assert (status, payload) == (200, [])


async def test_values_shorter_than_two_characters_count_as_absent(api: Api) -> None:
    job = await api.start()
    query = api.signed_query(owner=job["owner"], job_id="x")  # jobId "x" is ignored
    status, payload = await _call(api, "GET", params=query)
    assert status == 200
    assert [item["jobId"] for item in payload] == [job["jobId"]]
    status, payload = await _call(api, "GET", params={"jobId": "x", "owner": "", "nonce": "1"})
    assert (status, payload) == (400, FILTER_REQUIRED)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_no_filter_is_a_bad_request(api: Api, method: str) -> None:
    assert await _call(api, method) == (400, FILTER_REQUIRED)
    assert await _call(api, method, json={"nonce": 1}) == (400, FILTER_REQUIRED)


async def test_json_body_is_used_when_the_query_is_empty(api: Api) -> None:
    job = await api.start()
    body = api.signed_query(owner=job["owner"], job_id=job["jobId"])
    body["nonce"] = int(body["nonce"])  # a JSON integer this time
    status, payload = await _call(api, "GET", json=body)
    assert status == 200
    assert [item["jobId"] for item in payload] == [job["jobId"]]


async def test_query_string_wins_over_the_body(api: Api) -> None:
    job = await api.start()
    query = api.signed_query(owner=job["owner"], job_id=job["jobId"])
    status, payload = await _call(api, "GET", params=query, json={"jobId": "ff" * 16})
    assert status == 200
    assert [item["jobId"] for item in payload] == [job["jobId"]]


async def test_get_requires_a_valid_signature_and_a_fresh_nonce(api: Api) -> None:
    job = await api.start()
    query = api.signed_query(owner=job["owner"], job_id=job["jobId"])
    assert (await _call(api, "GET", params=query))[0] == 200
    status, payload = await _call(api, "GET", params=query)  # replay
    assert status == 401
    assert "nonce" in payload["error"]
    query = api.signed_query(owner=job["owner"], job_id=job["jobId"])
    query["providerSignature"] = "0x1234"
    assert (await _call(api, "GET", params=query))[0] == 400
    unsigned = {"owner": job["owner"], "jobId": job["jobId"]}
    assert (await _call(api, "GET", params=unsigned))[0] == 401


async def test_by_default_a_nonce_far_below_the_signers_highest_is_refused(api: Api) -> None:
    job = await api.start()
    highest = time.time_ns()
    minute = 60 * 10**9

    async def get_with(nonce: int) -> int:
        query = {
            "owner": job["owner"],
            "jobId": job["jobId"],
            "nonce": str(nonce),
            "providerSignature": api.sign(job["owner"], job["jobId"], nonce=nonce),
        }
        return (await _call(api, "GET", params=query))[0]

    assert await get_with(highest) == 200
    assert await get_with(highest - minute) == 200  # a little late (another provider replica)
    assert await get_with(highest - 11 * minute) == 401  # beyond the 10-minute default window


async def test_concurrent_requests_with_one_nonce_exactly_one_succeeds(api: Api) -> None:
    job = await api.start()
    query = api.signed_query(owner=job["owner"], job_id=job["jobId"])
    outcomes = await asyncio.gather(*(_call(api, "GET", params=query) for _ in range(8)))
    statuses = sorted(status for status, _ in outcomes)
    assert statuses == [200] + [401] * 7


async def test_the_query_example_parameters_are_understood(make_api: ApiFactory) -> None:
    api = await make_api(signature_required=False)
    params = example("query-params.provider-v2.1.6.json")["GET /api/v1/operator/compute"]
    status, payload = await _call(api, "GET", params=params)
    assert (status, payload) == (200, [])


async def test_put_stops_a_queued_job_at_once(api: Api) -> None:
    job = await api.start()
    status, payload = await _call(
        api, "PUT", params=api.signed_query(owner=job["owner"], job_id=job["jobId"])
    )
    assert status == 200
    (stopped,) = payload
    assert stopped["status"] == 70
    assert stopped["statusText"] == "Job finished"
    assert stopped["stopreq"] == 1
    assert stopped["dateFinished"] is not None
    assert api.engine.stopped == []  # it never started: nothing to stop in the engine
    claimed = await claim_next(api.store, "ocean-compute", 10)
    assert claimed is None  # and it never will


async def test_put_on_a_started_job_asks_the_engine(api: Api) -> None:
    job = await api.start()
    claimed = await claim_next(api.store, "ocean-compute", 10)
    assert claimed is not None
    assert claimed.job_id == job["jobId"]
    status, payload = await _call(
        api, "PUT", params=api.signed_query(owner=job["owner"], job_id=job["jobId"])
    )
    assert status == 200
    assert payload[0]["stopreq"] == 1
    assert payload[0]["status"] == 1  # the reconciler moves it on when the workflow stops
    assert payload[0]["dateFinished"] is None
    assert api.engine.stopped == [job["jobId"]]
    expected = example("PUT-compute.response.json")[0]
    assert set(payload[0]) >= set(expected)


async def test_put_records_the_stop_even_when_the_engine_fails(api: Api) -> None:
    job = await api.start()
    await claim_next(api.store, "ocean-compute", 10)
    api.engine.fail_stop = True
    status, payload = await _call(
        api, "PUT", params=api.signed_query(owner=job["owner"], job_id=job["jobId"])
    )
    assert status == 200
    assert payload[0]["stopreq"] == 1
    (stored,) = await api.jobs(job_id=job["jobId"])
    assert stored.stopreq == 1


async def test_put_on_a_finished_job_changes_nothing(api: Api) -> None:
    job = await api.start()
    await api.finish(job["jobId"], {"out.txt": b"x"})
    status, payload = await _call(
        api, "PUT", params=api.signed_query(owner=job["owner"], job_id=job["jobId"])
    )
    assert status == 200
    assert payload[0]["stopreq"] == 0
    assert payload[0]["status"] == 70
    assert api.engine.stopped == []


async def test_delete_stops_removes_and_deletes_results(api: Api) -> None:
    queued = await api.start()
    finished = await api.start()
    await api.finish(finished["jobId"], {"out.txt": b"hello", "algorithm.log": b"log"})
    for job in (queued, finished):
        status, payload = await _call(
            api, "DELETE", params=api.signed_query(owner=job["owner"], job_id=job["jobId"])
        )
        assert (status, payload) == (200, "")
    stored = {job.job_id: job for job in await api.jobs(owner=queued["owner"])}
    assert stored[queued["jobId"]].removed is True
    assert stored[queued["jobId"]].status is JobStatus.FINISHED
    assert stored[queued["jobId"]].stopreq == 1
    assert stored[finished["jobId"]].removed is True
    assert stored[finished["jobId"]].results_deleted_at is not None
    assert api.results.deleted == [finished["jobId"]]
    assert api.results.files == {}
    status, payload = await _call(
        api, "GET", params=api.signed_query(owner=queued["owner"], job_id=finished["jobId"])
    )
    assert payload[0]["removed"] == 1


async def test_delete_of_a_started_job_stops_it_in_the_engine(api: Api) -> None:
    job = await api.start()
    await claim_next(api.store, "ocean-compute", 10)
    status, _ = await _call(
        api, "DELETE", params=api.signed_query(owner=job["owner"], job_id=job["jobId"])
    )
    assert status == 200
    assert api.engine.stopped == [job["jobId"]]


async def test_a_nonce_string_with_19_digits_and_the_integer_sign_the_same(api: Api) -> None:
    job = await api.start()
    nonce = next_nonce()
    signature = api.sign(job["owner"], job["jobId"], nonce=nonce)
    body = {"owner": job["owner"], "jobId": job["jobId"], "providerSignature": signature}
    status, _ = await _call(api, "GET", json=dict(body, nonce=nonce))
    assert status == 200
    status, _ = await _call(api, "GET", json=dict(body, nonce=str(nonce)))
    assert status == 401  # the same nonce: a replay, whatever its spelling
