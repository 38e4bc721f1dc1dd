"""The pure parts of the HTTP edge: depth scan, JSON parsing, parameters, ranges, rendering."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from operator_argo.api.body import json_depth, parse_json_object
from operator_argo.api.render import epoch_text, status_object
from operator_argo.api.requests import parse_filter, parse_result_query, parse_start
from operator_argo.api.results import parse_range
from operator_argo.api.schemas import parse_workflow
from operator_argo.domain.errors import InvalidRequest, RangeNotSatisfiable
from operator_argo.domain.job import (
    Address,
    AlgorithmSpec,
    ContainerSpec,
    Job,
    JobId,
    JobSpec,
    ResultFile,
)
from operator_argo.domain.status import JobStatus
from tests.kit.data import OCEAN_EXAMPLES as EXAMPLES


def _example(name: str) -> dict[str, Any]:
    body = json.loads((EXAMPLES / name).read_text())
    body.pop("_comment")
    return dict(body)


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"", 0),
        (b"1", 0),
        (b"{}", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'{"a": "[[[[{{{{"}', 1),
        (b'{"a": "\\"[[[[", "b": [[]]}', 3),
        (b'["\\\\", [[]]]', 3),
        (b'"unterminated [[[[', 0),
        (b"[" * 1000, 1000),
        (b"]]]][", 0),
        (b"]" * 10 + b"[" * 20, 10),
        (b"[[]]" + b"]" * 10 + b"[" * 10, 2),
    ],
)
def test_json_depth_ignores_brackets_in_strings(body: bytes, depth: int) -> None:
    assert json_depth(body) == depth


def test_json_depth_is_linear_on_hostile_quotes() -> None:
    body = b'"\\"' * 300_000  # every quote starts a string that never ends cleanly
    assert json_depth(body) == 0


@pytest.mark.parametrize("body", [b"", b"  \n"])
def test_empty_body_is_none(body: bytes) -> None:
    assert parse_json_object(body) is None


@pytest.mark.parametrize(
    "body",
    [b"[]", b"1", b"{", b"NaN", b'{"a": Infinity}', b'{"a": 1e400}'],
)
def test_json_that_is_not_an_object_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidRequest):
        parse_json_object(body)


def test_start_fields_from_the_example() -> None:
    body = _example("POST-compute.request.provider-v2.1.6.raw-algo.json")
    fields = parse_start(body)
    assert fields.nonce == 1700000000123456789
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
    assert fields.job_id == "a"  # what the provider signed stays as sent
    with pytest.raises(InvalidRequest, match="You have to specify one of"):
        parse_filter({"jobId": "a"})


@pytest.mark.parametrize(("raw", "index"), [("0", 0), ("12", 12), (" 3 ", 3), (4, 4), ("-1", -1)])
def test_result_index(raw: Any, index: int) -> None:
    assert parse_result_query({"jobId": "j1", "owner": "o1", "index": raw}).index == index


@pytest.mark.parametrize("raw", ["a", "1.0", 1.0, True, "", "1" * 30])
def test_result_index_must_be_an_integer(raw: Any) -> None:
    with pytest.raises(InvalidRequest):
        parse_result_query({"jobId": "j1", "owner": "o1", "index": raw})


@pytest.mark.parametrize(
    ("header", "size", "span"),
    [
        ("bytes=0-9", 100, (0, 10)),
        ("bytes=90-", 100, (90, 100)),
        ("bytes=-10", 100, (90, 100)),
        ("bytes=-1000", 100, (0, 100)),
        ("bytes=50-5000", 100, (50, 100)),
        ("bytes = 1 - 2", 100, (1, 3)),
    ],
)
def test_range(header: str, size: int, span: tuple[int, int]) -> None:
    assert parse_range(header, size) == span


@pytest.mark.parametrize(
    "header", ["bytes=100-", "bytes=5-4", "bytes=-0", "bytes=-", "bytes=0-1,2-3", "lines=1-2", ""]
)
def test_unsatisfiable_range(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100)


def test_range_of_an_empty_file() -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=-5", 0)


def test_epoch_text_is_exact() -> None:
    moment = dt.datetime(2023, 11, 14, 22, 13, 20, 511397, tzinfo=dt.UTC)
    assert epoch_text(moment) == "1700000000.511397"
    assert epoch_text(moment.replace(microsecond=0)) == "1700000000.000000"
    naive = dt.datetime(1970, 1, 1, 0, 0, 1, 5)
    assert epoch_text(naive) == "1.000005"
    other_zone = moment.astimezone(dt.timezone(dt.timedelta(hours=5)))
    assert epoch_text(other_zone) == "1700000000.511397"


def _job(**changes: Any) -> Job:
    fields: dict[str, Any] = {
        "job_id": JobId("a" * 32),
        "owner": Address("0xO"),
        "agreement_id": "0xA",
        "environment": "env",
        "spec": JobSpec(
            inputs=(),
            algorithm=AlgorithmSpec(did=None, container=ContainerSpec(entrypoint="e", image="i")),
        ),
        "status": JobStatus.QUEUED,
        "date_created": dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC),
    }
    fields.update(changes)
    return Job(**fields)


def test_status_object_before_and_after_results() -> None:
    queued = status_object(_job())
    assert queued["results"] == ""
    assert queued["algoDID"] == "raw"
    assert queued["statusText"] == "Warming up"
    assert queued["dateFinished"] is None
    finished = status_object(
        _job(
            status=JobStatus.FINISHED,
            date_finished=dt.datetime(2023, 11, 14, 22, 14, 0, 1, tzinfo=dt.UTC),
            results=(ResultFile(filename="o.txt", filesize=3, type="output", key="secret/key"),),
        )
    )
    assert finished["results"] == [{"filename": "o.txt", "filesize": 3, "type": "output"}]
    assert "secret/key" not in json.dumps(finished)
    assert finished["dateFinished"] == "1700000040.000001"
    assert status_object(_job(results=()))["results"] == []
