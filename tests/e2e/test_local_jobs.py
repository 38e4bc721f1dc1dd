"""Real jobs on the local engine, through the HTTP API: statuses, results, failures, deadlines."""

from __future__ import annotations

import asyncio
import json

from aiohttp.test_utils import TestClient

from operator_argo.config import Settings
from tests.e2e.conftest import OWNER, job_request, results_dir_of
from tests.fakes.ocean import FakeOcean
from tests.operatorkit import (
    API,
    eventually,
    finished,
    job_status,
    running_operator,
    start_job,
    status_is,
)

SUM_ALGORITHM = """
import json, os
folder = os.path.join(os.environ["INPUTS"], json.loads(os.environ["DIDS"])[0])
total = 0.0
for name in sorted(os.listdir(folder)):
    for line in open(os.path.join(folder, name)):
        total += sum(float(x) for x in line.split(",") if x.strip())
print("sum is", total)
open(os.path.join(os.environ["OUTPUTS"], "sum.txt"), "w").write(str(total))
"""


TARGETS = ("/data/inputs/planted", "/etc/planted", "/usr/planted", "/data/transformations/planted")


async def get_result(client: TestClient, job_id: str, index: int) -> bytes:
    resp = await client.get(
        f"{API}/getResult", params={"jobId": job_id, "index": str(index), "owner": OWNER}
    )
    assert resp.status == 200, await resp.text()
    return await resp.read()


def result_types(job: dict) -> list[str]:
    return [r["type"] for r in job["results"]]


async def test_a_raw_code_job_reads_its_input_and_publishes_its_result(
    local_settings: Settings, ocean: FakeOcean
) -> None:
    async with running_operator(local_settings) as (runtime, client):
        body = job_request(ocean, SUM_ALGORITHM, inputs={"a.csv": b"1,2\n3,4\n", "b.csv": b"10\n"})
        job_id = await start_job(client, body)
        job = await finished(client, job_id)
        assert (job["status"], job["statusText"], job["stopreq"]) == (70, "Job finished", 0)
        assert result_types(job) == [
            "output", "algorithmLog", "configrationLog", "publishLog", "receipt"
        ]  # fmt: skip
        assert job["results"][0]["filename"] == "sum.txt"
        assert await get_result(client, job_id, 0) == b"20.0"
        assert b"sum is 20.0" in await get_result(client, job_id, 1)
        assert job["terminationDetails"]["exitCode"] == 0
        history = [s for s, _ in await runtime.store.status_history(job_id)]
        assert history == [1, 20, 30, 40, 60, 70]


async def test_ocean_nodes_url_inputs_without_id_land_in_a_folder_named_after_their_index(
    local_settings: Settings, ocean: FakeOcean
) -> None:
    body = job_request(ocean, SUM_ALGORITHM, inputs={"a.csv": b"1,2\n", "b.csv": b"3\n"})
    stage = body["workflow"]["stages"][0]
    (item,) = stage["input"]
    stage["input"] = [{"index": 3, "url": item["url"]}]  # no id, as ocean-node sends them
    stage["algorithm"]["remote"] = {"userdata": {}}
    stage["algorithm"]["rawcode"] = (
        "import os\nprint('dids', os.environ['DIDS'], sorted(os.listdir('/data/inputs/3')))\n"
        + SUM_ALGORITHM
    )
    async with running_operator(local_settings) as (_, client):
        job_id = await start_job(client, body)
        job = await finished(client, job_id)
        assert job["status"] == 70 and job["inputDID"] == [""]
        assert await get_result(client, job_id, 0) == b"6.0"
        assert b"dids [\"3\"] ['0', '1']" in await get_result(client, job_id, 1)


async def test_an_input_404_ends_31_and_an_algorithm_404_ends_32(
    local_settings: Settings, ocean: FakeOcean
) -> None:
    async with running_operator(local_settings) as (runtime, client):
        bad_input = await start_job(
            client, job_request(ocean, SUM_ALGORITHM, input_urls=[ocean.file_url("missing")])
        )
        bad_algo = await start_job(
            client, job_request(ocean, "", algorithm_url=ocean.file_url("no-algo.py"))
        )
        data_failed = await finished(client, bad_input)
        algo_failed = await finished(client, bad_algo)
        assert (data_failed["status"], data_failed["statusText"]) == (
            31,
            "Data provisioning failed",
        )
        assert (algo_failed["status"], algo_failed["statusText"]) == (
            32,
            "Algorithm provisioning failed",
        )
        assert "configrationLog" in result_types(
            data_failed
        )  # logs are published after failures too
        # Never 60 on the way: publish ran while the job showed 20, then 31 or 32.
        assert [s for s, _ in await runtime.store.status_history(bad_input)] == [1, 20, 31]
        assert [s for s, _ in await runtime.store.status_history(bad_algo)] == [1, 20, 32]


async def test_an_algorithm_exiting_1_ends_70_with_its_exit_code_and_error(
    local_settings: Settings, ocean: FakeOcean
) -> None:
    code = "import sys\nprint('about to fail')\nraise SystemExit('the model diverged')\n"
    async with running_operator(local_settings) as (_, client):
        job_id = await start_job(client, job_request(ocean, code))
        job = await finished(client, job_id)
        assert job["status"] == 70 and job["stopreq"] == 0
        assert job["terminationDetails"]["exitCode"] == 1
        log_index = result_types(job).index("algorithmLog")
        assert b"the model diverged" in await get_result(client, job_id, log_index)


async def test_an_algorithm_past_its_deadline_is_stopped_with_stopreq_2(
    local_settings: Settings, ocean: FakeOcean
) -> None:
    code = "import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n"
    async with running_operator(local_settings) as (runtime, client):
        job_id = await start_job(client, job_request(ocean, code, environment="short"))
        await eventually(status_is(client, job_id, 40), timeout=30)
        job = await finished(client, job_id, timeout=3 + 15)
        assert (job["status"], job["stopreq"]) == (70, 2)
        stored = await runtime.store.get_job(job_id)
        assert (
            stored is not None and stored.algorithm_started_at is not None and stored.date_finished
        )
        ran = (stored.date_finished - stored.algorithm_started_at).total_seconds()
        assert ran < 3 + 10, f"the algorithm ran {ran:.1f} s past a 3 s deadline"
        assert "algorithmLog" in result_types(job)


async def test_stop_while_running_ends_with_stopreq_1_and_published_logs(
    local_settings: Settings, ocean: FakeOcean
) -> None:
    code = "import time\nprint('working', flush=True)\ntime.sleep(120)\n"
    async with running_operator(local_settings) as (_, client):
        job_id = await start_job(client, job_request(ocean, code))
        await eventually(status_is(client, job_id, 40), timeout=30)
        await asyncio.sleep(2)  # let the interpreter start and print
        resp = await client.put(f"{API}/compute", params={"jobId": job_id, "owner": OWNER})
        assert resp.status == 200 and (await resp.json())[0]["stopreq"] == 1
        job = await finished(client, job_id, timeout=30)
        assert (job["status"], job["stopreq"]) == (70, 1)
        assert {"algorithmLog", "configrationLog", "publishLog"} <= set(result_types(job))
        log_index = result_types(job).index("algorithmLog")
        assert b"working" in await get_result(client, job_id, log_index)


async def test_delete_removes_the_results(local_settings: Settings, ocean: FakeOcean) -> None:
    async with running_operator(local_settings) as (_, client):
        job_id = await start_job(client, job_request(ocean, SUM_ALGORITHM))
        await finished(client, job_id)
        assert any(results_dir_of(local_settings, job_id).iterdir())
        resp = await client.delete(f"{API}/compute", params={"jobId": job_id, "owner": OWNER})
        assert resp.status == 200 and await resp.json() == ""
        assert not results_dir_of(local_settings, job_id).exists()
        job = await job_status(client, job_id)
        assert job["removed"] == 1
        resp = await client.get(
            f"{API}/getResult", params={"jobId": job_id, "index": "0", "owner": OWNER}
        )
        assert resp.status == 404


async def test_the_sandbox_keeps_the_algorithm_off_the_network_and_out_of_the_system(
    local_settings: Settings, ocean: FakeOcean
) -> None:
    port = ocean.url.rsplit(":", 1)[1]
    code = f"""
import json, os, socket
report = {{}}
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    report["network"] = "connected"
except OSError as exc:
    report["network"] = type(exc).__name__
for target in {TARGETS!r}:
    try:
        open(target, "w").write("x")
        report[target] = "written"
    except OSError as exc:
        report[target] = type(exc).__name__
report["admin_visible"] = os.path.exists("/admin")
open("/data/outputs/report.json", "w").write(json.dumps(report))
"""
    async with running_operator(local_settings) as (_, client):
        job_id = await start_job(client, job_request(ocean, code))
        job = await finished(client, job_id)
        assert job["status"] == 70
        report = json.loads(await get_result(client, job_id, 0))
    assert report["network"] != "connected"
    for target in (
        "/data/inputs/planted",
        "/etc/planted",
        "/usr/planted",
        "/data/transformations/planted",
    ):
        assert report[target] != "written", target
    assert report["admin_visible"] is False


async def test_max_jobs_bounds_concurrency_and_every_job_runs(
    local_settings: Settings, ocean: FakeOcean
) -> None:
    code = """
import os, time
start = time.time()
time.sleep(1.5)
open(os.path.join(os.environ["OUTPUTS"], "span.txt"), "w").write(f"{start} {time.time()}")
"""
    async with running_operator(local_settings) as (_, client):
        jobs = [await start_job(client, job_request(ocean, code)) for _ in range(5)]
        spans = []
        for job_id in jobs:
            job = await finished(client, job_id, timeout=120)
            assert job["status"] == 70
            start, end = map(float, (await get_result(client, job_id, 0)).split())
            spans.append((start, end))
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 2, f"maxJobs is 2, {peak} algorithms overlapped"
