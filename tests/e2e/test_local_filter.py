"""The filtering step end to end: a real job on the local engine, through the HTTP API."""

from __future__ import annotations

import dataclasses

from aiohttp.test_utils import TestClient

from operator_argo.config import Settings
from operator_argo.domain.environment import FilterStep
from tests.e2e.conftest import OWNER, job_request
from tests.fakes.ocean import FakeOcean
from tests.operatorkit import API, finished, running_operator, start_job

TWO_OUTPUTS = """
import os
open(os.path.join(os.environ["OUTPUTS"], "summary.txt"), "w").write("3 rows")
open(os.path.join(os.environ["OUTPUTS"], "rows.csv"), "w").write("alice,42\\nbob,37\\n")
"""
# The data owner's rule: raw rows never leave the job.
REMOVE_ROWS = ("sh", "-c", 'rm "$OUTPUTS/rows.csv" && echo "removed rows.csv"')


def with_filter(settings: Settings, command: tuple[str, ...]) -> Settings:
    environment = dataclasses.replace(
        settings.environments[0], filter=FilterStep(image="filters/rows:1", command=command)
    )
    return dataclasses.replace(settings, environments=(environment, *settings.environments[1:]))


async def result(client: TestClient, job_id: str, index: int) -> bytes:
    params = {"jobId": job_id, "index": str(index), "owner": OWNER}
    resp = await client.get(f"{API}/getResult", params=params)
    assert resp.status == 200, await resp.text()
    return await resp.read()


async def test_a_filter_removes_a_file_before_publish(
    local_settings: Settings, ocean: FakeOcean
) -> None:
    settings = with_filter(local_settings, REMOVE_ROWS)
    async with running_operator(settings) as (runtime, client):
        job_id = await start_job(client, job_request(ocean, TWO_OUTPUTS))
        job = await finished(client, job_id)
        assert (job["status"], job["statusText"]) == (70, "Job finished")
        names = [(r["filename"], r["type"]) for r in job["results"]]
        assert names == [
            ("summary.txt", "output"),
            ("algorithm.log", "algorithmLog"),
            ("configure.log", "configrationLog"),
            ("filtering.log", "filteringLog"),
            ("publish.log", "publishLog"),
            ("receipt.json", "receipt"),
        ]
        assert await result(client, job_id, 0) == b"3 rows"
        assert await result(client, job_id, 3) == b"removed rows.csv\n"
        history = [status for status, _ in await runtime.store.status_history(job_id)]
        assert history == [1, 20, 30, 40, 50, 60, 70]
        stored = await runtime.store.get_job(job_id)
        assert stored is not None and stored.error is None


async def test_a_failing_filter_publishes_the_logs_and_no_output(
    local_settings: Settings, ocean: FakeOcean
) -> None:
    settings = with_filter(local_settings, ("sh", "-c", "echo 'rows found'; exit 2"))
    async with running_operator(settings) as (runtime, client):
        job_id = await start_job(client, job_request(ocean, TWO_OUTPUTS))
        job = await finished(client, job_id)
        assert job["status"] == 70
        assert [r["type"] for r in job["results"]] == [
            "algorithmLog",
            "configrationLog",
            "filteringLog",
            "publishLog",
            "receipt",
        ]
        assert await result(client, job_id, 2) == b"rows found\n"
        stored = await runtime.store.get_job(job_id)
        assert stored is not None and stored.error is not None
        assert "filtering step failed" in stored.error
