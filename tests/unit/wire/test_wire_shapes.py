"""The request shapes: each route's parameters parsed in the contract's order, the stage."""

from __future__ import annotations

import json
from typing import Any

import pytest

from operator_argo.domain.errors import InvalidRequest
from operator_argo.wire.shapes import parse_filter, parse_result, parse_start
from operator_argo.wire.stage import parse_workflow
from tests.kit.data import OCEAN_EXAMPLES as EXAMPLES


def _example(name: str) -> dict[str, Any]:
    body = json.loads((EXAMPLES / name).read_text())
    body.pop("_comment")
    return dict(body)


def test_start_fields_from_the_example() -> None:
    body = _example("POST-compute.request.provider-v2.1.6.raw-algo.json")
    fields = parse_start(body)
    assert fields.signed.nonce == 1700000000123456789
    assert fields.chain_id == 8996
    assert fields.valid_until == 1700003600
    assert fields.environment == "ocean-compute"


def test_start_reports_the_first_missing_key() -> None:
    with pytest.raises(InvalidRequest, match=r'^"agreementId" is required'):
        parse_start({"workflow": {}, "owner": "o"})
    with pytest.raises(InvalidRequest, match=r"^payload seems empty\.$"):
        parse_start({})


def test_workflow_to_spec() -> None:
    body = _example("POST-compute.request.provider-v2.1.6.published-algo.json")
    spec = parse_workflow(body["workflow"])
    assert spec.inputs[0].did.startswith("did:op:3d13")
    assert spec.inputs[0].remote is not None
    assert spec.inputs[0].remote.user_data == {"threshold": 0.5}
    assert spec.algorithm.did.startswith("did:op:e105")  # type: ignore[union-attr]
    assert spec.algorithm.container.tag == "python-branin"
    assert spec.algorithm.custom_data == {"iterations": 10}
    assert spec.metadata_uri == "http://172.15.0.5:5000"


def test_url_inputs_and_a_single_url_string() -> None:
    stage = _example("POST-compute.request.provider-v2.1.6.raw-algo.json")["workflow"]
    stage["stages"][0]["input"] = [
        {"index": 0, "id": "did:op:1", "url": ["http://a/1", "http://a/2"]},
        {"id": "did:op:2", "url": "http://b/1"},
    ]
    spec = parse_workflow(stage)
    assert spec.inputs[0].urls == ("http://a/1", "http://a/2")
    assert spec.inputs[1].urls == ("http://b/1",)
    assert spec.inputs[1].index == 1
    assert spec.algorithm.urls == ()


def test_filter_treats_short_values_as_absent() -> None:
    fields = parse_filter({"jobId": "a", "owner": "0xabc", "agreementId": ""})
    assert fields.flt.job_id is None
    assert fields.flt.owner == "0xabc"
    assert fields.flt.agreement_id is None
    assert fields.signed.parts == ("0xabc", "a")  # what the provider signed stays as sent
    with pytest.raises(InvalidRequest, match="You have to specify one of"):
        parse_filter({"jobId": "a"})


@pytest.mark.parametrize(("raw", "index"), [("0", 0), ("12", 12), (" 3 ", 3), (4, 4), ("-1", -1)])
def test_result_index(raw: Any, index: int) -> None:
    assert parse_result({"jobId": "j1", "owner": "o1", "index": raw}).index == index


@pytest.mark.parametrize("raw", ["a", "1.0", 1.0, True, "", "1" * 30])
def test_result_index_must_be_an_integer(raw: Any) -> None:
    with pytest.raises(InvalidRequest):
        parse_result({"jobId": "j1", "owner": "o1", "index": raw})


@pytest.mark.parametrize("signature", [None, "garbage"])
def test_a_malformed_nonce_is_refused_whether_signatures_are_checked_or_not(
    signature: object,
) -> None:
    with pytest.raises(InvalidRequest, match="nonce must be an integer"):
        parse_filter({"owner": "0xabc", "providerSignature": signature, "nonce": "1.5"})
