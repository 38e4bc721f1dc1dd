"""Preflight rules: each refuses what cannot work, and the document states exactly the same."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from test_wire_document import VALID_STAGE, stage_parses, valid

from operator_argo.domain.environment import Environment
from operator_argo.domain.errors import InvalidRequest
from operator_argo.wire.preflight import (
    CHECKSUM,
    IMAGE,
    PUBLIC_URL,
    TAG,
    check_environment,
    check_valid_until,
    url_overlay,
)
from operator_argo.wire.stage import parse_workflow
from operator_argo.wire.stage_schema import stage_schemas

LOCAL = [
    "http://127.0.0.1/data.csv",
    "http://127.1:8080/",
    "HTTP://LOCALHOST/x",
    "http://localhost./x",
    "http://api.localhost/x",
    "http://user:pw@127.0.0.1/",
    "http://a@b@example.com/",  # which host is meant is ambiguous: refused
    "http://0.0.0.0/",
    "http://0/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://2130706433/",
    "http://169.254.169.254/latest/meta-data",
    "http://METADATA.google.internal/computeMetadata/v1/",
    "http://100.100.100.200/",
    "http://instance-data.ec2.internal/",
    "http://[::1]:8000/",
    "http://[::]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[fe80::1%25eth0]/",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:127.0.0.1]/",
]
PUBLIC = [
    "http://example.com/data.csv",
    "https://data.example.org:8443/a?b=c@d",
    "http://10.0.0.5/internal-but-not-local",
    "http://127.example.com/",
    "http://0.example.com/",
    "http://localhost.example.com/",
    "http://[2001:db8::1]/",
    "http://user@example.com/",
]


@pytest.mark.parametrize("url", LOCAL)
def test_local_addresses_are_recognised(url: str) -> None:
    assert not PUBLIC_URL.matches(url)


@pytest.mark.parametrize("url", PUBLIC)
def test_other_addresses_are_not(url: str) -> None:
    assert PUBLIC_URL.matches(url)


def _stage_with_urls(url: str) -> dict[str, Any]:
    stage = copy.deepcopy(VALID_STAGE)
    stage["input"][0]["url"] = [url]
    stage["algorithm"]["url"] = url
    return stage


@pytest.mark.parametrize("url", LOCAL + PUBLIC)
def test_an_environment_refuses_exactly_what_its_overlay_says(url: str) -> None:
    stage = _stage_with_urls(url)
    spec = parse_workflow({"stages": [stage]})
    refusing = Environment(id="e", namespace="e", refuse_local_urls=True)
    try:
        check_environment(spec, refusing)
        refused = False
    except InvalidRequest as exc:
        refused = True
        assert "loopback, link-local or metadata" in exc.message
    assert refused == (not valid(url_overlay(), {"stages": [stage]}))
    check_environment(spec, Environment(id="e", namespace="e"))  # others take any http(s) URL


SOURCES = ("rawcode", "url", "id", "remote")


@pytest.mark.parametrize("kept", [*SOURCES, None])
def test_an_algorithm_needs_one_source_by_both_parser_and_document(kept: str | None) -> None:
    stage = copy.deepcopy(VALID_STAGE)
    absent = {"rawcode": "", "url": None, "id": "", "remote": {"userdata": {}}}
    for key in SOURCES:
        if key != kept:
            stage["algorithm"][key] = absent[key]
    components = stage_schemas()
    in_document = valid(components["Workflow"], {"stages": [stage]}, components)
    assert stage_parses(stage) == in_document == (kept is not None)
    if kept is None:
        with pytest.raises(InvalidRequest, match=r"^stage 0\.algorithm: the algorithm has no"):
            parse_workflow({"stages": [stage]})


@pytest.mark.parametrize("kept", ["url", "remote", None])
def test_an_input_needs_urls_or_a_remote_by_both(kept: str | None) -> None:
    stage = copy.deepcopy(VALID_STAGE)
    for key, absent in (("url", ""), ("remote", None)):
        if key != kept:
            stage["input"][0][key] = absent
    components = stage_schemas()
    in_document = valid(components["Workflow"], {"stages": [stage]}, components)
    assert stage_parses(stage) == in_document == (kept is not None)


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (
            IMAGE,
            ["python", "oceanprotocol/algo_dockers", "registry:5000/org/al-go", "a/b/c__d.e"],
            ["Python", "python:3.11", "img{{x}}", "a//b", "/a", "a/", "-a", "registry:x/a"],
        ),
        (TAG, ["", "latest", "3.11", "v1.0-rc_1", "_x"], ["-x", ".x", "a b", "a:b", "x" * 129]),
        (CHECKSUM, ["", "sha256:" + "ab" * 32, "sha256:" + "AB" * 32], ["sha256:short", "md5:0"]),
    ],
)
def test_image_patterns(pattern: Any, good: list[str], bad: list[str]) -> None:
    assert [value for value in good if not pattern.matches(value)] == []
    assert [value for value in bad if pattern.matches(value)] == []


def test_valid_until_must_lie_ahead() -> None:
    check_valid_until(None, 1000.0)
    check_valid_until(1001, 1000.0)
    for past in (1000, 999, 0):
        with pytest.raises(InvalidRequest, match="validUntil is already past"):
            check_valid_until(past, 1000.0)
