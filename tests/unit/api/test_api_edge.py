"""The pure parts of the HTTP edge: depth scan, JSON parsing, ranges, rendering."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from operator_argo.api.body import json_depth, parse_json_object
from operator_argo.api.render import epoch_text, status_object
from operator_argo.api.results import parse_range
from operator_argo.domain.errors import InvalidRequest, RangeNotSatisfiable
from operator_argo.domain.job import (
    Address,
    Job,
    JobId,
    ResultFile,
)
from operator_argo.domain.status import JobStatus
from tests.kit import factories
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
        "spec": factories.make_spec(urls=()),
        "date_created": dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC),
    }
    return factories.make_job("env", **(fields | changes))


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
