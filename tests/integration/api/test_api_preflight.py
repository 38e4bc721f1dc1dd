"""Preflight through the HTTP API: what cannot work is a 400 that says why, and nothing is
queued; the document at /spec states every rule."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from operator_argo.domain.environment import Environment
from tests.integration.api.conftest import ENVIRONMENTS, PREFIX, Api, ApiFactory

Change = Callable[[dict[str, Any]], None]


def _algorithm(body: dict[str, Any]) -> dict[str, Any]:
    algorithm: dict[str, Any] = body["workflow"]["stages"][0]["algorithm"]
    return algorithm


def _container(key: str, value: Any) -> Change:
    return lambda body: _algorithm(body)["container"].__setitem__(key, value)


def _no_source(body: dict[str, Any]) -> None:
    _algorithm(body).update(id="", rawcode="", url=None)
    _algorithm(body).pop("remote", None)


def _input_url(url: str) -> Change:
    return lambda body: body["workflow"]["stages"][0]["input"][0].__setitem__("url", [url])


def _algorithm_url(url: str) -> Change:
    return lambda body: _algorithm(body).update(rawcode="", url=[url])


REFUSED = [
    ("image", _container("image", "Python:3.11"), "algorithm.container.image: is not an image"),
    ("image", _container("image", "img{{x}}"), "algorithm.container.image: is not an image"),
    ("tag", _container("tag", "-latest"), "algorithm.container.tag: is not an image tag"),
    ("checksum", _container("checksum", "sha256:123"), "container.checksum: is not an image dig"),
    ("entrypoint", _container("entrypoint", "  \t"), "algorithm.container.entrypoint: is empty"),
    ("no source", _no_source, "stage 0.algorithm: the algorithm has no rawcode, url, id"),
    (
        "instances",
        lambda body: body["workflow"]["stages"][0]["compute"].__setitem__("Instances", 2),
        "compute.Instances: an environment runs one instance of a job",
    ),
    ("input scheme", _input_url("file:///etc/passwd"), "input.0.url: must be an http or https"),
    ("algorithm scheme", _algorithm_url("ftp://x/algo.py"), "algorithm.url: must be an http"),
    (
        "no input files",
        lambda body: body["workflow"]["stages"][0]["input"][0].update(url=None, remote=None),
        "stage 0.input.0: the input has neither url nor remote",
    ),
    (
        "past",
        lambda body: body.__setitem__("validUntil", int(time.time()) - 1),
        "validUntil is already past",
    ),
]


def _raw_body(api: Api, **overrides: Any) -> dict[str, Any]:
    body = api.start_body(**overrides)
    stage = body["workflow"]["stages"][0]
    stage["input"] = [{"index": 0, "id": "did:op:" + "ab" * 32, "url": ["http://x.example/a"]}]
    return body


@pytest.mark.parametrize(("name", "change", "message"), REFUSED, ids=[r[0] for r in REFUSED])
async def test_what_cannot_work_is_refused_before_it_is_queued(
    api: Api, name: str, change: Change, message: str
) -> None:
    body = _raw_body(api)
    change(body)
    response = await api.client.post(f"{PREFIX}/compute", json=body)
    assert response.status == 400, await response.text()
    assert message in (await response.json())["error"]
    assert await api.jobs(agreement_id=body["agreementId"]) == []


async def test_what_can_work_is_still_accepted(api: Api) -> None:
    body = _raw_body(api, validUntil=int(time.time()) + 60)
    _container("image", "registry.example:5000/org/algo")(body)
    _container("checksum", "")(body)
    body["workflow"]["stages"][0]["algorithm"]["url"] = ""  # "" names no URL, as null does
    response = await api.client.post(f"{PREFIX}/compute", json=body)
    assert response.status == 200, await response.text()


LOCAL_URLS = ["http://127.0.0.1:9/a.csv", "http://169.254.169.254/latest/", "http://[::1]/x"]


@pytest.mark.parametrize("url", LOCAL_URLS)
async def test_an_environment_that_says_so_refuses_local_addresses(
    make_api: ApiFactory, url: str
) -> None:
    guarded = Environment(id="guarded", namespace="guarded", refuse_local_urls=True)
    api = await make_api(environments=(*ENVIRONMENTS, guarded))
    for change in (_input_url(url), _algorithm_url(url)):
        body = _raw_body(api, environment="guarded", chainId=None)
        change(body)
        response = await api.client.post(f"{PREFIX}/compute", json=body)
        assert response.status == 400
        assert "loopback, link-local or metadata address" in (await response.json())["error"]
        body = _raw_body(api, environment="anychain")  # the others take any http(s) URL
        change(body)
        assert (await api.client.post(f"{PREFIX}/compute", json=body)).status == 200


async def test_the_document_states_every_rule(make_api: ApiFactory) -> None:
    guarded = Environment(id="guarded", namespace="guarded", refuse_local_urls=True)
    api = await make_api(environments=(*ENVIRONMENTS, guarded))
    spec = await (await api.client.get("/spec")).json()
    schemas = spec["components"]["schemas"]
    container = schemas["Container"]["properties"]
    for key in ("image", "tag", "checksum", "entrypoint"):
        assert container[key]["pattern"].startswith("^"), key
        assert container[key]["description"], key
    assert "rawcode, url, id (a DID) or remote" in schemas["Algorithm"]["description"]
    assert len(schemas["Algorithm"]["anyOf"]) == 4 and len(schemas["Input"]["anyOf"]) == 2
    assert schemas["Compute"]["properties"]["Instances"]["maximum"] == 1
    url = schemas["Input"]["properties"]["url"]["anyOf"][1]["items"]
    assert url["pattern"].startswith("^[hH][tT][tT][pP][sS]?://")
    start = schemas["StartRequest"]
    assert "validUntil that is not in the future" in start["description"]
    branches = {b["properties"]["environment"]["enum"][0]: b for b in start["anyOf"]}
    assert "workflow" in branches["guarded"]["properties"]
    assert "workflow" not in branches["anychain"]["properties"]
    assert "not in the future" in start["properties"]["validUntil"]["description"]
