"""POST /compute: the examples as they are, each error message, the order of the checks."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.crypto import keccak

from operator_argo.domain.job import spec_to_dict
from tests.integration.api.conftest import PREFIX, Api, ApiFactory, example, next_nonce
from tests.kit.clock import VirtualClock

RAW = "POST-compute.request.provider-v2.1.6.raw-algo.json"
PUBLISHED = "POST-compute.request.provider-v2.1.6.published-algo.json"


async def _post(api: Api, body: Any) -> tuple[int, Any]:
    response = await api.client.post(f"{PREFIX}/compute", json=body)
    return response.status, await response.json()


@pytest.mark.parametrize("name", [RAW, PUBLISHED])
async def test_example_bodies_are_accepted_as_they_are(make_api: ApiFactory, name: str) -> None:
    body = example(name)
    # The examples are signed (owner + str(nonce)) by a provider key: allow whoever signed them.
    message = encode_defunct(primitive=keccak(text=body["owner"] + str(body["nonce"])))
    signer = Account.recover_message(message, signature=body["providerSignature"])
    # At the time they were made: their validUntil is long past now (preflight refuses that).
    then = VirtualClock(dt.datetime.fromtimestamp(body["validUntil"] - 1800, dt.UTC))
    api = await make_api(clock=then, allowed_providers=frozenset({signer.lower()}))
    status, payload = await _post(api, body)
    assert status == 200, payload
    (job,) = payload
    expected = example("POST-compute.response.json")[0]
    assert set(job) >= set(expected)
    assert job["status"] == 1
    assert job["statusText"] == "Warming up"
    assert job["dateFinished"] is None
    assert job["results"] == ""
    assert job["stopreq"] == 0
    assert job["removed"] == 0
    assert job["owner"] == body["owner"]
    assert job["agreementId"] == body["agreementId"]
    assert job["inputDID"] == [item["id"] for item in body["workflow"]["stages"][0]["input"]]
    assert job["algoDID"] == body["workflow"]["stages"][0]["algorithm"]["id"]
    assert len(job["jobId"]) == 32
    assert int(job["jobId"], 16) >= 0
    assert job["jobId"] == job["jobId"].lower()
    seconds, fraction = job["dateCreated"].split(".")
    assert seconds.isdigit()
    assert len(fraction) == 6


async def test_example_is_accepted_with_signatures_on(api: Api) -> None:
    valid_until = int(time.time()) + 600
    job = await api.start(validUntil=valid_until)
    (stored,) = await api.jobs(job_id=job["jobId"])
    assert stored.chain_id == 8996
    assert stored.valid_until == valid_until
    assert stored.provider_address == "0xe17D2A07EFD5b112F4d675ea2d122ddb145d117B"
    spec = spec_to_dict(stored.spec)
    assert spec["algorithm"]["rawcode"].startswith("import os")
    assert spec["algorithm"]["did"] == ""
    assert spec["algorithm"]["container"]["image"] == "oceanprotocol/algo_dockers"
    assert spec["inputs"][0]["remote"]["tx_id"].startswith("0x5a2c")
    assert spec["inputs"][0]["remote"]["user_data"] == {"threshold": 0.5}
    assert spec["metadata_uri"] == "http://172.15.0.5:5000"


async def test_published_algorithm_keeps_its_remote_and_custom_data(api: Api) -> None:
    body = api.start_body(PUBLISHED)
    status, (job,) = await _post(api, body)
    assert status == 200
    (stored,) = await api.jobs(job_id=job["jobId"])
    assert stored.spec.algorithm.remote is not None
    assert stored.spec.algorithm.remote.service_endpoint == "http://172.15.0.4:8030"
    assert stored.spec.algorithm.custom_data == {"iterations": 10}


@pytest.mark.parametrize(
    ("algorithm_id", "expected"), [(None, "raw"), ("", ""), ("did:op:abc", "did:op:abc")]
)
async def test_algo_did_rules(api: Api, algorithm_id: str | None, expected: str) -> None:
    body = api.start_body()
    algorithm = body["workflow"]["stages"][0]["algorithm"]
    if algorithm_id is None:
        del algorithm["id"]
    else:
        algorithm["id"] = algorithm_id
    status, (job,) = await _post(api, body)
    assert status == 200
    assert job["algoDID"] == expected


@pytest.mark.parametrize("as_string", [False, True])
async def test_nonce_as_19_digit_integer_or_string(api: Api, as_string: bool) -> None:
    nonce = next_nonce()
    assert len(str(nonce)) == 19
    body = api.start_body(nonce=str(nonce) if as_string else nonce)
    body["providerSignature"] = api.sign(body["owner"], nonce=nonce)
    status, payload = await _post(api, body)
    assert status == 200, payload


@pytest.mark.parametrize(
    "missing", ["workflow", "agreementId", "owner", "providerSignature", "environment", "nonce"]
)
async def test_first_missing_key_is_named(api: Api, missing: str) -> None:
    body = api.start_body()
    del body[missing]
    status, payload = await _post(api, body)
    assert status == 400
    assert payload == {"error": f'"{missing}" is required in the call to POST:/compute'}


async def test_missing_keys_are_reported_in_contract_order(api: Api) -> None:
    status, payload = await _post(api, {"owner": "0xabc", "nonce": 1})
    assert status == 400
    assert payload == {"error": '"workflow" is required in the call to POST:/compute'}


@pytest.mark.parametrize("body", [None, {}, ""])
async def test_empty_payload(api: Api, body: Any) -> None:
    if body is None:
        response = await api.client.post(f"{PREFIX}/compute")
    else:
        response = await api.client.post(f"{PREFIX}/compute", json=body)
    assert response.status == 400
    assert await response.json() == (
        {"error": "payload seems empty."}
        if body != ""
        else {"error": "payload must be a JSON object"}
    )


@pytest.mark.parametrize(
    ("environment", "chain_id"),
    [("nope", 8996), ("ocean-compute", 137), ("gpu", 8996), ("ocean-compute", "137")],
)
async def test_environment_invalid(api: Api, environment: str, chain_id: Any) -> None:
    status, payload = await _post(api, api.start_body(environment=environment, chainId=chain_id))
    assert status == 400
    assert payload == {"error": "Environment invalid or does not exist"}


async def test_environment_without_chain_list_accepts_any_chain(api: Api) -> None:
    status, _ = await _post(api, api.start_body(environment="anychain", chainId=424242))
    assert status == 200


async def test_agreement_id_in_use(api: Api) -> None:
    first = await api.start()
    status, payload = await _post(api, api.start_body(agreementId=first["agreementId"]))
    assert status == 400
    assert payload == {"error": "`agreementId` already in use for other job."}


async def test_agreement_id_is_free_again_once_the_job_finished(api: Api) -> None:
    first = await api.start()
    await api.finish(first["jobId"], {})
    status, _ = await _post(api, api.start_body(agreementId=first["agreementId"]))
    assert status == 200


async def test_concurrent_posts_with_one_agreement_id_make_exactly_one_job(api: Api) -> None:
    bodies = [api.start_body(agreementId="0x" + "ab" * 32) for _ in range(6)]
    outcomes = await asyncio.gather(*(_post(api, body) for body in bodies))
    statuses = sorted(status for status, _ in outcomes)
    assert statuses == [200, 400, 400, 400, 400, 400]
    for status, payload in outcomes:
        if status == 400:
            assert payload == {"error": "`agreementId` already in use for other job."}
    assert len(await api.jobs(agreement_id="0x" + "ab" * 32)) == 1


async def test_wrong_signer_is_unauthorized(api: Api) -> None:
    body = api.start_body()
    body["providerSignature"] = api.sign(
        body["owner"], nonce=body["nonce"], key=Account.create().key
    )
    status, payload = await _post(api, body)
    assert status == 401
    assert "error" in payload
    assert await api.jobs(agreement_id=body["agreementId"]) == []


async def test_signature_over_another_message_is_unauthorized(api: Api) -> None:
    body = api.start_body()
    body["providerSignature"] = api.sign(body["owner"], nonce=body["nonce"] + 1)
    status, _ = await _post(api, body)
    assert status == 401


@pytest.mark.parametrize("garbage", ["0xdeadbeef", "not a signature", "0x" + "zz" * 65, 42])
async def test_garbage_signature_is_a_bad_request(api: Api, garbage: Any) -> None:
    status, payload = await _post(api, api.start_body(providerSignature=garbage))
    assert status == 400
    assert "providerSignature" in payload["error"]


async def test_replayed_nonce_is_refused(api: Api) -> None:
    body = api.start_body()
    assert (await _post(api, body))[0] == 200
    replay = dict(body, agreementId="0x" + "cd" * 32)
    status, payload = await _post(api, replay)
    assert status == 401
    assert "nonce" in payload["error"]


async def test_unsigned_calls_pass_when_signatures_are_off(make_api: ApiFactory) -> None:
    api = await make_api(signature_required=False, allowed_providers=frozenset())
    body = api.start_body(providerSignature="")
    assert (await _post(api, body))[0] == 200
    again = dict(body, agreementId="0x" + "ef" * 32)  # same nonce, no signature: still fine
    assert (await _post(api, again))[0] == 200


async def test_multiple_stages(api: Api) -> None:
    body = api.start_body()
    stages = body["workflow"]["stages"]
    stages.append(stages[0])
    status, payload = await _post(api, body)
    assert (status, payload) == (400, {"error": "Multiple stages are not supported yet"})


@pytest.mark.parametrize("key", ["input", "algorithm", "compute", "output"])
async def test_missing_stage_part(api: Api, key: str) -> None:
    body = api.start_body()
    del body["workflow"]["stages"][0][key]
    status, payload = await _post(api, body)
    assert (status, payload) == (400, {"error": f"Missing {key} in stage 0"})


async def test_stage_type_errors_name_the_field(api: Api) -> None:
    body = api.start_body()
    body["workflow"]["stages"][0]["algorithm"]["container"]["image"] = 7
    status, payload = await _post(api, body)
    assert status == 400
    assert payload["error"].startswith("stage 0.algorithm.container.image:")


async def test_checks_run_in_contract_order(api: Api) -> None:
    taken = await api.start()
    # Environment before agreementId, agreementId before signature, signature before stage.
    bad_everything = api.start_body(
        environment="nope", agreementId=taken["agreementId"], providerSignature="0x00"
    )
    bad_everything["workflow"]["stages"] = []
    assert (await _post(api, bad_everything))[1] == {
        "error": "Environment invalid or does not exist"
    }
    bad_everything["environment"] = "ocean-compute"
    assert (await _post(api, bad_everything))[1] == {
        "error": "`agreementId` already in use for other job."
    }
    bad_everything["agreementId"] = "0x" + "12" * 32
    status, payload = await _post(api, bad_everything)
    assert status == 400
    assert "providerSignature" in payload["error"]
    signed = api.start_body(agreementId="0x" + "12" * 32)
    signed["workflow"]["stages"] = []
    status, payload = await _post(api, signed)
    assert status == 400
    assert "stage" in payload["error"]


async def test_a_refused_stage_does_not_store_a_job(api: Api) -> None:
    body = api.start_body()
    del body["workflow"]["stages"][0]["algorithm"]["container"]
    status, _ = await _post(api, body)
    assert status == 400
    assert await api.jobs(agreement_id=body["agreementId"]) == []
