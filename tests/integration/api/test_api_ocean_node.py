"""ocean-node's operator client, as it talks: raw-code algorithms with an empty remote, url
inputs without an id, and signatures over other messages than the provider's."""

from __future__ import annotations

from typing import Any

from operator_argo.auth.signatures import sign_text
from tests.integration.api.conftest import PREFIX, Api, ApiFactory, example, next_nonce
from tests.kit.data import OCEAN_NODE_EXAMPLES

OCEAN_NODE = "POST-compute.request.opf-k8.raw-algo.json"


def ocean_node_body(**overrides: Any) -> dict[str, Any]:
    body = example(OCEAN_NODE, OCEAN_NODE_EXAMPLES)
    body.update({"nonce": next_nonce(), **overrides})
    return body


async def test_its_raw_code_job_on_url_inputs_without_ids_is_accepted(make_api: ApiFactory) -> None:
    api = await make_api(signature_required=False)
    response = await api.client.post(f"{PREFIX}/compute", json=ocean_node_body())
    assert response.status == 200, await response.text()
    (job,) = await response.json()
    assert job["algoDID"] == ""
    assert job["inputDID"] == ["", ""]
    (stored,) = await api.jobs(job_id=job["jobId"])
    assert stored.spec.algorithm.remote is None  # {"userdata": {}} counts as absent
    assert stored.spec.algorithm.rawcode.startswith("import os")
    assert [(item.did, item.folder, len(item.urls)) for item in stored.spec.inputs] == [
        (None, "0", 1),
        (None, "1", 2),
    ]


async def test_a_remote_with_only_one_of_tx_id_and_service_id_is_still_refused(
    make_api: ApiFactory,
) -> None:
    api = await make_api(signature_required=False)
    body = ocean_node_body()
    body["workflow"]["stages"][0]["algorithm"]["remote"] = {"txId": "0xabc", "userdata": {}}
    response = await api.client.post(f"{PREFIX}/compute", json=body)
    assert response.status == 400
    assert await response.json() == {
        "error": "stage 0.algorithm.remote.serviceId: Missing data for required field."
    }


async def test_its_signatures_over_other_messages_are_refused_when_signatures_are_required(
    api: Api,
) -> None:
    owner = ocean_node_body()["owner"]
    nonce = next_nonce()
    start = ocean_node_body(nonce=nonce, providerSignature=api.sign(nonce=nonce))  # nonce only
    response = await api.client.post(f"{PREFIX}/compute", json=start)
    assert response.status == 401
    assert await response.json() == {"error": "Invalid providerSignature"}

    job = await api.start()
    nonce = next_nonce()
    stop = {"owner": owner, "jobId": job["jobId"], "nonce": str(nonce)}
    stop["providerSignature"] = api.sign(nonce=nonce)
    response = await api.client.put(f"{PREFIX}/compute", params=stop)
    assert response.status == 401

    # getResult signed over owner + jobId, no nonce: without one, and with one it did not sign.
    query = {"jobId": job["jobId"], "index": "0", "owner": job["owner"]}
    query["providerSignature"] = sign_text(job["owner"] + job["jobId"], api.provider.key)
    response = await api.client.get(f"{PREFIX}/getResult", params=query)
    assert response.status == 401
    assert await response.json() == {"error": "nonce is required"}
    response = await api.client.get(
        f"{PREFIX}/getResult", params=query | {"nonce": str(next_nonce())}
    )
    assert response.status == 401
    assert await response.json() == {"error": "Invalid providerSignature"}
