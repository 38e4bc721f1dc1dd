"""Malformed input never gets a 5xx, and cannot take the server down."""

from __future__ import annotations

import io
import json
import sys
from typing import Any

import pytest

from tests.integration.api.conftest import PREFIX, Api

BAD_BODIES: list[bytes] = [
    b"not json",
    b"{",
    b"[1, 2, 3]",
    b'"a string"',
    b"null",
    b"42",
    b"\xff\xfe\x00garbage",
    b'{"workflow": NaN}',
    b'{"nonce": Infinity}',
    b'{"nonce": 1e999}',
    b'{"nonce": ' + b"9" * 5000 + b"}",
    b'{"a": "\\ud800"}',
    b'{"owner": "\\ud800", "agreementId": "\\udc00"}',
    b'{"owner": "a\\u0000b"}',
    b"{" * 50 + b"}" * 50,
    b"[" * 65 + b"]" * 65,
    b'{"owner": "' + "ünïcødé ☃ 🐳".encode() + b'"}',
]

BAD_FIELDS: list[dict[str, Any]] = [
    {"workflow": "x"},
    {"workflow": []},
    {"workflow": {"stages": "x"}},
    {"workflow": {"stages": [None]}},
    {"workflow": {"stages": [{"input": "x", "algorithm": 1, "compute": 2, "output": 3}]}},
    {"owner": 123},
    {"owner": ["0xabc"]},
    {"owner": {"a": 1}},
    {"owner": ""},
    {"agreementId": 10**40},
    {"agreementId": "x" * 5000},
    {"environment": None},
    {"environment": True},
    {"nonce": -1},
    {"nonce": "-1"},
    {"nonce": 1.5},
    {"nonce": 10**100},
    {"nonce": "1" * 200},
    {"nonce": True},
    {"nonce": "١٢٣"},
    {"nonce": [1]},
    {"chainId": "abc"},
    {"chainId": 1.5},
    {"chainId": 10**100},
    {"chainId": {"x": 1}},
    {"validUntil": -5},
    {"validUntil": "soon"},
    {"validUntil": 10**30},
    {"providerAddress": 5},
    {"providerSignature": {"r": 1}},
    {"providerSignature": "0x" + "é" * 130},
    {"owner": "0x\u0000abc"},
    {"agreementId": "\ud800"},
]


def _mutate_stage(body: dict[str, Any], path: list[str], value: Any) -> None:
    target = body["workflow"]["stages"][0]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


STAGE_MUTATIONS: list[tuple[list[str], Any]] = [
    (["input"], [{"id": 5}]),
    (["input"], [{"index": "zero", "id": "did:op:1"}]),
    (["input"], [{"id": "did:op:1", "url": [1, 2]}]),
    (["input"], [{"id": "did:op:1", "remote": "x"}]),
    (["input"], [{"id": "did:op:1", "remote": {"txId": 1}}]),
    (["input"], "x"),
    (["algorithm", "container"], None),
    (["algorithm", "container"], "python"),
    (["algorithm", "container", "entrypoint"], ["python"]),
    (["algorithm", "rawcode"], 7),
    (["algorithm", "id"], {"x": 1}),
    (["algorithm", "url"], {"x": 1}),
    (["compute", "Instances"], 1e308),
    (["compute", "maxtime"], "forever"),
    (["output", "metadataUri"], 3),
    (["output"], "x"),
]


def _assert_client_error(status: int, payload: Any) -> None:
    assert 400 <= status < 500, payload
    assert isinstance(payload, dict)
    assert set(payload) == {"error"}
    assert isinstance(payload["error"], str)


@pytest.mark.parametrize("route", ["compute", "getResult"])
@pytest.mark.parametrize("method", ["POST", "GET", "PUT", "DELETE"])
async def test_bad_bodies_on_every_route(api: Api, method: str, route: str) -> None:
    for body in BAD_BODIES:
        response = await api.client.request(
            method,
            f"{PREFIX}/{route}",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        _assert_client_error(response.status, await response.json())


async def test_bad_field_values_on_post(api: Api) -> None:
    for fields in BAD_FIELDS:
        body = api.start_body()
        body.update(fields)
        response = await api.client.post(f"{PREFIX}/compute", json=body)
        _assert_client_error(response.status, await response.json())


async def test_bad_stage_values_on_post(api: Api) -> None:
    for path, value in STAGE_MUTATIONS:
        body = api.start_body()
        _mutate_stage(body, path, value)
        response = await api.client.post(f"{PREFIX}/compute", json=body)
        assert response.status == 400, (path, value)
        _assert_client_error(response.status, await response.json())
    assert await api.jobs(owner=api.start_body()["owner"]) == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_bad_field_values_on_queries(api: Api, method: str) -> None:
    cases: list[dict[str, Any]] = [
        {"jobId": 5},
        {"owner": ["a"]},
        {"agreementId": {"x": 1}},
        {"owner": "0xabc", "nonce": "-1"},
        {"owner": "0xabc", "nonce": 1.5},
        {"owner": "0xabc", "nonce": "1" * 100},
        {"owner": "0xabc", "nonce": "1", "providerSignature": 7},
        {"owner": "x" * 5000},
    ]
    for body in cases:
        response = await api.client.request(method, f"{PREFIX}/compute", json=body)
        _assert_client_error(response.status, await response.json())
    queries: list[dict[str, str]] = [
        {"owner": "0xabc", "nonce": "1e5"},
        {"jobId": "é" * 40, "nonce": "x"},
        {"owner": "0x\x00abc"},
    ]
    for query in queries:
        response = await api.client.request(method, f"{PREFIX}/compute", params=query)
        _assert_client_error(response.status, await response.json())


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["algorithm", "rawcode"], "print(1)\x00"),
        (["algorithm", "container", "image"], "python\ud800"),
        (["input", 0, "id"], "did:op:\x00"),
        (["input", 0, "url"], ["http://a/\x00"]),
        (["output", "metadataUri"], "http://\udc00"),
    ],
)
async def test_text_that_cannot_be_stored_is_400_naming_its_field(
    api: Api, path: list[Any], value: Any
) -> None:
    body = api.start_body()
    target = body["workflow"]["stages"][0]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    data = json.dumps(body).encode()  # escapes NUL and lone surrogates, as clients do
    response = await api.client.post(
        f"{PREFIX}/compute", data=data, headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    message = (await response.json())["error"]
    assert message.startswith("stage 0.") and str(path[-1]) in message, message
    assert message.endswith("must be text without NUL characters")


async def test_free_form_data_and_unknown_keys_may_hold_any_json_text(api: Api) -> None:
    # NUL and lone surrogates cannot be stored as jsonb text: free-form values keep them anyway.
    odd = {"a\x00b": ["\x00", "\ud800", {"\udfff": 1}], "plain": "fine"}
    body = api.start_body(extraKey="\x00\ud800")
    algorithm = body["workflow"]["stages"][0]["algorithm"]
    algorithm.update(algocustomdata=odd, algouserdata="x\x00y")
    body["workflow"]["stages"][0]["input"][0]["remote"]["userdata"] = {"k": "\x00"}
    response = await api.client.post(
        f"{PREFIX}/compute",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 200, await response.text()
    (job,) = await response.json()
    (stored,) = await api.jobs(job_id=job["jobId"])
    assert stored.spec.algorithm.custom_data == odd
    assert stored.spec.algorithm.user_data == "x\x00y"
    assert stored.spec.inputs[0].remote is not None
    assert stored.spec.inputs[0].remote.user_data == {"k": "\x00"}


async def test_unicode_values_are_stored_and_returned_intact(api: Api) -> None:
    owner = "0xÜñíçødé☃🐳\u202e"
    job = await api.start(owner=owner, agreementId="🐳" * 100)
    assert job["owner"] == owner
    assert job["agreementId"] == "🐳" * 100


async def test_body_too_large_is_413(api: Api) -> None:
    body = json.dumps({"owner": "x" * (api.settings.max_body_bytes + 1)}).encode()
    response = await api.client.post(f"{PREFIX}/compute", data=io.BytesIO(body))
    assert response.status == 413
    assert await response.json() == {"error": "payload is too large"}


async def test_chunked_body_too_large_is_413(api: Api) -> None:
    async def chunks() -> Any:
        for _ in range(api.settings.max_body_bytes // 1024 + 2):
            yield b" " * 1024

    response = await api.client.post(f"{PREFIX}/compute", data=chunks())
    assert response.status == 413


async def test_nesting_just_deep_enough_is_parsed(api: Api) -> None:
    depth = api.settings.max_json_depth
    body = api.start_body()
    nested: Any = 1
    for _ in range(depth - 5):
        nested = [nested]
    body["workflow"]["stages"][0]["algorithm"]["algocustomdata"] = nested
    response = await api.client.post(f"{PREFIX}/compute", json=body)
    assert response.status == 200, await response.text()


async def test_brackets_inside_strings_do_not_count(api: Api) -> None:
    body = api.start_body()
    body["workflow"]["stages"][0]["algorithm"]["rawcode"] = "[" * 10_000 + '"\\' + "{" * 10_000
    response = await api.client.post(f"{PREFIX}/compute", json=body)
    assert response.status == 200, await response.text()


@pytest.mark.parametrize("method", ["POST", "GET", "PUT", "DELETE"])
async def test_200000_levels_of_nesting_with_a_huge_recursion_limit(api: Api, method: str) -> None:
    # Importing eth-account raises the recursion limit to 100,000; with it, the C JSON decoder can
    # overflow the C stack on this body and kill the process. The depth check must stop it first.
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        bodies = (b"[" * 200_000 + b"]" * 200_000, b'{"":' * 200_000 + b"1" + b"}" * 200_000)
        for body in bodies:
            assert len(body) <= api.settings.max_body_bytes
            response = await api.client.request(
                method,
                f"{PREFIX}/compute",
                data=io.BytesIO(body),
                headers={"Content-Type": "application/json"},
            )
            assert response.status == 400
            assert await response.json() == {"error": "payload is nested too deeply"}
    finally:
        sys.setrecursionlimit(before)
    assert (await api.client.get("/healthz")).status == 200
    assert (await api.client.get(f"{PREFIX}/environments")).status == 200


async def test_200000_levels_unclosed(api: Api) -> None:
    response = await api.client.post(
        f"{PREFIX}/compute",
        data=io.BytesIO(b"[" * 200_000),
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 400
    assert (await api.client.get("/healthz")).status == 200
