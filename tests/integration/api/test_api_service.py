"""Service routes: info, OpenAPI, Swagger UI, probes, metrics, admin schema init, environments,
running jobs, and the error and request-id conventions every route shares."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from operator_argo import __version__
from operator_argo.api.docs import (
    EnvironmentSchema,
    InfoSchema,
    RunningJobSchema,
    StatusSchema,
)
from tests.integration.api.conftest import ADMIN, PREFIX, Api, ApiFactory, example
from tests.kit.store import claim_next


async def test_info(api: Api) -> None:
    response = await api.client.get("/")
    assert response.status == 200
    body = await response.json()
    assert body == {
        "software": "Operator service",
        "version": __version__,
        "address": "0x6D39A833d1a6789AECa50dB85CB830bc08319F45",
        "algoTimeLimit": "3600",
        "storageExpiry": None,
    }
    assert set(body) == set(example("GET-root.response.json"))
    InfoSchema().load(body)


async def test_info_shows_a_null_address_when_none_is_configured(make_api: ApiFactory) -> None:
    api = await make_api(operator_address="")
    body = await (await api.client.get("/")).json()
    assert body["address"] is None
    InfoSchema().load(body)


async def test_openapi_document_lists_every_route(api: Api) -> None:
    response = await api.client.get("/spec")
    assert response.status == 200
    spec = await response.json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    assert set(paths[f"{PREFIX}/compute"]) == {"post", "get", "put", "delete"}
    for route in ("runningjobs", "environments", "getResult", "pgsqlinit"):
        assert f"{PREFIX}/{route}" in paths
    body = paths[f"{PREFIX}/compute"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"].endswith("/StartRequest")
    assert "workflow" in spec["components"]["schemas"]["StartRequest"]["properties"]


async def test_swagger_ui(api: Api) -> None:
    response = await api.client.get("/api/v1/docs")
    assert response.status == 200
    html = await response.text()
    assert "/spec" in html
    assert "swagger" in html.lower()


async def test_probes(api: Api) -> None:
    assert (await api.client.get("/healthz")).status == 200
    assert (await api.client.get("/readyz")).status == 200


async def test_readyz_reports_a_database_that_is_gone(api: Api) -> None:
    await api.store.database.close()
    response = await api.client.get("/readyz")
    assert response.status == 503
    assert "error" in await response.json()
    assert (await api.client.get("/healthz")).status == 200


async def test_metrics_count_requests_by_route_template(api: Api) -> None:
    await api.client.get(f"{PREFIX}/environments")
    response = await api.client.get("/metrics")
    assert response.status == 200
    text = await response.text()
    assert (
        'operator_argo_http_requests_total{method="GET",route="/api/v1/operator/environments",status="200"}'
        in text
    )


@pytest.mark.parametrize("header", [None, "", "  "])
async def test_pgsqlinit_without_an_admin_header_is_400_as_in_the_original(
    api: Api, header: str | None
) -> None:
    headers = {} if header is None else {"Admin": header}
    response = await api.client.post(f"{PREFIX}/pgsqlinit", headers=headers)
    assert response.status == 400
    assert await response.json() == {"error": "Admin header is empty."}


async def test_pgsqlinit_from_an_address_not_listed_is_401_as_in_the_original(api: Api) -> None:
    response = await api.client.post(f"{PREFIX}/pgsqlinit", headers={"Admin": "0xsomeoneelse"})
    assert response.status == 401
    assert await response.json() == {
        "error": "Access admin route failed due to invalid admin address."
    }


async def test_pgsqlinit_migrates_idempotently(api: Api) -> None:
    for _ in range(2):
        response = await api.client.post(f"{PREFIX}/pgsqlinit", headers={"Admin": ADMIN.upper()})
        assert response.status == 200
    await api.start()  # the schema still works


async def test_environments(api: Api) -> None:
    response = await api.client.get(f"{PREFIX}/environments")
    assert response.status == 200
    body = await response.json()
    assert [env["id"] for env in body] == ["ocean-compute", "gpu", "anychain"]
    expected_keys = set(example("GET-environments.response.json")[0])
    for env in body:
        assert set(env) - {"allowedChainId"} == expected_keys
        EnvironmentSchema().load(env)
        assert "key" not in " ".join(env).lower().replace("consumer", "")
    assert body[0]["consumerAddress"] == "0x3db8d2AEf9A1d1584adD1aDDfb7728fe64d18c3F"
    assert body[0]["allowedChainId"] == [8996, 1]
    assert body[2]["priceMin"] == 0.5
    assert body[2]["storageExpiry"] == 60
    seconds, fraction = body[0]["lastSeen"].split(".")
    assert seconds.isdigit()
    assert len(fraction) == 6


@pytest.mark.parametrize(
    ("chain", "ids"),
    [("8996", ["ocean-compute", "anychain"]), ("137", ["gpu", "anychain"]), ("5", ["anychain"])],
)
async def test_environments_chain_filter(api: Api, chain: str, ids: list[str]) -> None:
    response = await api.client.get(f"{PREFIX}/environments", params={"chainId": chain})
    assert [env["id"] for env in await response.json()] == ids


@pytest.mark.parametrize("chain", ["abc", "1.5", "-3"])
async def test_environments_bad_chain_id(api: Api, chain: str) -> None:
    response = await api.client.get(f"{PREFIX}/environments", params={"chainId": chain})
    assert response.status == 400


async def test_current_jobs_count_started_unfinished_jobs(api: Api) -> None:
    for _ in range(3):
        await api.start()
    await claim_next(api.store, "ocean-compute", 10)
    await claim_next(api.store, "ocean-compute", 10)
    response = await api.client.get(f"{PREFIX}/environments", params={"chainId": "8996"})
    counts = {env["id"]: env["currentJobs"] for env in await response.json()}
    assert counts == {"ocean-compute": 2, "anychain": 0}


async def test_running_jobs(api: Api) -> None:
    running = await api.start()
    gpu = await api.start(environment="gpu", chainId=137)
    done = await api.start()
    await api.finish(done["jobId"], {})
    response = await api.client.get(f"{PREFIX}/runningjobs")
    assert response.status == 200
    body = await response.json()
    assert [(job["jobId"], job["namespace"]) for job in body] == [
        (running["jobId"], "ocean-compute"),
        (gpu["jobId"], "ns-gpu"),
    ]
    expected_keys = set(example("GET-runningjobs.response.json")[0])
    for job in body:
        assert set(job) == expected_keys
        RunningJobSchema().load(job)


async def test_running_jobs_are_streamed_and_paged(api: Api) -> None:
    ids = [(await api.start())["jobId"] for _ in range(3)]
    response = await api.client.get(f"{PREFIX}/runningjobs")
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert "X-Request-Id" in response.headers
    assert [job["jobId"] for job in await response.json()] == ids
    page = await api.client.get(f"{PREFIX}/runningjobs", params={"limit": "2", "offset": "1"})
    assert [job["jobId"] for job in await page.json()] == ids[1:]
    empty = await api.client.get(f"{PREFIX}/runningjobs", params={"offset": "3"})
    assert await empty.json() == []


@pytest.mark.parametrize("page", [{"limit": "-1"}, {"offset": "x"}, {"limit": "1.5"}])
async def test_running_jobs_refuse_a_bad_page(api: Api, page: dict[str, str]) -> None:
    response = await api.client.get(f"{PREFIX}/runningjobs", params=page)
    assert response.status == 400
    assert "error" in await response.json()


async def test_status_objects_match_their_documented_schema(api: Api) -> None:
    job = await api.start()
    StatusSchema().load(job)
    await api.finish(job["jobId"], {"a.txt": b"1"})
    response = await api.client.get(
        f"{PREFIX}/compute", params=api.signed_query(owner=job["owner"], job_id=job["jobId"])
    )
    (finished,) = await response.json()
    StatusSchema().load(finished)
    with pytest.raises(ValidationError):
        StatusSchema().load({k: v for k, v in finished.items() if k != "statusText"})
    assert finished["dateFinished"] is not None
    assert set(finished) >= set(example("GET-compute.response.finished.json")[0])


async def test_unknown_routes_and_methods_answer_json(api: Api) -> None:
    response = await api.client.get(f"{PREFIX}/nope")
    assert response.status == 404
    assert await response.json() == {"error": "Not Found"}
    response = await api.client.patch(f"{PREFIX}/compute")
    assert response.status == 405
    assert "error" in await response.json()
    assert "POST" in response.headers["Allow"]


async def test_request_id_is_returned_and_echoed(api: Api) -> None:
    response = await api.client.get("/healthz")
    generated = response.headers["X-Request-Id"]
    assert len(generated) == 32
    response = await api.client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
    response = await api.client.get("/healthz", headers={"X-Request-Id": "bad id\twith tab"})
    assert response.headers["X-Request-Id"] != "bad id\twith tab"
    response = await api.client.get(f"{PREFIX}/nope")
    assert len(response.headers["X-Request-Id"]) == 32


async def test_unexpected_errors_are_a_plain_500(make_api: ApiFactory) -> None:
    api = await make_api()
    await api.store.database.close()  # the store now fails every call
    response = await api.client.get(f"{PREFIX}/runningjobs")
    assert response.status >= 500
    body = await response.json()
    assert set(body) == {"error"}
    assert "Traceback" not in body["error"]
