"""Every integer the API takes is range-checked at the edge: a 400 naming the field, never a
database error (a 500) and never a job stored with a value that cannot be right."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.api.conftest import PREFIX, Api

BIGINT = 2**63


@pytest.mark.parametrize("chain_id", [10**50, BIGINT, -(10**50), -1, "-1", "1" * 19])
async def test_chain_ids_that_cannot_be_stored_are_400(api: Api, chain_id: Any) -> None:
    # "anychain" lists no allowedChainId: the value used to reach PostgreSQL (bigint out of range).
    response = await api.client.post(
        f"{PREFIX}/compute", json=api.start_body(environment="anychain", chainId=chain_id)
    )
    assert response.status == 400
    assert await response.json() == {
        "error": "chainId must be a non-negative integer of at most 18 digits"
    }
    assert await api.jobs(owner=api.start_body()["owner"]) == []


async def test_a_negative_chain_id_is_refused_alike_in_a_query_and_in_a_body(api: Api) -> None:
    query = await api.client.get(f"{PREFIX}/environments", params={"chainId": "-1"})
    body = await api.client.post(
        f"{PREFIX}/compute", json=api.start_body(environment="anychain", chainId=-1)
    )
    assert query.status == body.status == 400
    assert await query.json() == await body.json()


async def test_the_largest_chain_id_is_accepted(api: Api) -> None:
    job = await api.start(environment="anychain", chainId=10**18 - 1)
    (stored,) = await api.jobs(job_id=job["jobId"])
    assert stored.chain_id == 10**18 - 1


@pytest.mark.parametrize("valid_until", [BIGINT, -1, 1e30, "9" * 19])
async def test_valid_until_out_of_range_is_400(api: Api, valid_until: Any) -> None:
    response = await api.client.post(
        f"{PREFIX}/compute", json=api.start_body(validUntil=valid_until)
    )
    assert response.status == 400
    assert "validUntil" in (await response.json())["error"]


STAGE_VALUES: list[tuple[str, str, Any]] = [
    ("compute", "Instances", 0),
    ("compute", "Instances", -1),
    ("compute", "Instances", BIGINT),
    ("compute", "Instances", None),
    ("compute", "Instances", True),
    ("compute", "Instances", "1"),
    ("compute", "maxtime", -1),
    ("compute", "maxtime", BIGINT),
    ("compute", "maxtime", False),
    ("compute", "maxtime", "60"),
    ("compute", "maxtime", 60.5),
    ("input", "index", -1),
    ("input", "index", BIGINT),
    ("input", "index", True),
    ("input", "index", 1.0),
]


@pytest.mark.parametrize(("part", "key", "value"), STAGE_VALUES)
async def test_stage_integers_that_cannot_be_right_are_400(
    api: Api, part: str, key: str, value: Any
) -> None:
    body = api.start_body()
    stage = body["workflow"]["stages"][0]
    target = stage[part][0] if part == "input" else stage[part]
    target[key] = value
    response = await api.client.post(f"{PREFIX}/compute", json=body)
    assert response.status == 400, await response.text()
    message = (await response.json())["error"]
    assert message.startswith(f"stage 0.{part}."), message
    assert f".{key}: " in message
    assert await api.jobs(owner=body["owner"]) == []


async def test_stage_integers_at_their_bounds_are_accepted(api: Api) -> None:
    body = api.start_body()
    stage = body["workflow"]["stages"][0]
    stage["compute"].update(Instances=1, maxtime=0)
    stage["input"][0]["index"] = 2**31 - 1
    response = await api.client.post(f"{PREFIX}/compute", json=body)
    assert response.status == 200, await response.text()


@pytest.mark.parametrize("index", ["1" * 19, str(-(10**18)), 10**30])
async def test_a_result_index_out_of_range_is_400(api: Api, index: Any) -> None:
    job = await api.start()
    query = api.signed_query(job["owner"], job["jobId"], index=str(index))
    response = await api.client.get(f"{PREFIX}/getResult", params=query)
    assert response.status == 400
    assert await response.json() == {"error": "index must be an integer of at most 18 digits"}


async def test_a_negative_result_index_is_the_contracts_404(api: Api) -> None:
    job = await api.start()
    await api.finish(job["jobId"], {"out.txt": b"x"})
    query = api.signed_query(job["owner"], job["jobId"], index="-1")
    response = await api.client.get(f"{PREFIX}/getResult", params=query)
    assert response.status == 404
    assert await response.json() == {"error": "No such index -1 in this compute job"}
