"""Prometheus metrics move when a real job runs: scrape /metrics before and after."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from operator_argo.config import Settings
from tests.e2e.conftest import job_request
from tests.fakes.ocean import FakeOcean
from tests.operatorkit import finished, running_operator, start_job


async def scrape(client: TestClient) -> str:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    return await resp.text()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample, 0 when absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_a_job_moves_the_counters(local_settings: Settings, ocean: FakeOcean) -> None:
    env = "ocean-compute"
    async with running_operator(local_settings) as (_, client):
        before = await scrape(client)
        job_id = await start_job(client, job_request(ocean, "print('hello')"))
        assert (await finished(client, job_id))["status"] == 70
        after = await scrape(client)

    submitted = "operator_argo_workflow_submissions_total"
    assert sample(after, submitted, environment=env, outcome="submitted") == (
        sample(before, submitted, environment=env, outcome="submitted") + 1
    )
    done = "operator_argo_jobs_finished_total"
    assert (
        sample(after, done, environment=env, status="70")
        == sample(before, done, environment=env, status="70") + 1
    )
    assert sample(after, "operator_argo_http_requests_total", method="POST", status="200") >= 1
    assert sample(after, "operator_argo_reconcile_lag_seconds_count") > sample(
        before, "operator_argo_reconcile_lag_seconds_count"
    )
    assert sample(after, "operator_argo_queue_wait_seconds_count", environment=env) >= 1
