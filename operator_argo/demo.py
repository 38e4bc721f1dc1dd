"""`operator-argo demo`: one real job through the HTTP API on the embedded stack, start to end."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from operator_argo.app import background, build_app, open_runtime
from operator_argo.config import load_settings
from operator_argo.observability.logging import configure_logging

DATASET = "\n".join(f"{x},{x * x}" for x in range(1, 101)) + "\n"

# The consumer's algorithm: reads the dataset it is given and writes one result file.
ALGORITHM = """\
import csv, json, os
inputs = os.environ["INPUTS"]
rows = []
for did in json.loads(os.environ["DIDS"]):
    folder = os.path.join(inputs, did)
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as f:
            rows += [tuple(map(float, r)) for r in csv.reader(f) if r]
result = {"rows": len(rows), "mean_x": sum(r[0] for r in rows) / len(rows),
          "mean_y": sum(r[1] for r in rows) / len(rows)}
print("computed", result)
with open(os.path.join(os.environ["OUTPUTS"], "result.json"), "w") as f:
    json.dump(result, f)
"""

TIMEOUT = 120.0


def _say(message: str) -> None:
    print(message, flush=True)


@contextlib.asynccontextmanager
async def _dataset_server() -> AsyncIterator[str]:
    async def dataset(_: web.Request) -> web.Response:
        return web.Response(text=DATASET, content_type="text/csv")

    app = web.Application()
    app.router.add_get("/dataset.csv", dataset)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/dataset.csv"
    finally:
        await runner.cleanup()


def _request(dataset_url: str, environment: str) -> dict[str, Any]:
    did = "did:op:" + uuid.uuid4().hex * 2
    return {
        "workflow": {
            "stages": [
                {
                    "index": 0,
                    "input": [{"index": 0, "id": did, "url": [dataset_url]}],
                    "compute": {"Instances": 1, "namespace": environment, "maxtime": 60},
                    "algorithm": {
                        "id": "",
                        "rawcode": ALGORITHM,
                        "container": {
                            "entrypoint": "python $ALGO",
                            "image": "python",
                            "tag": "3.11",
                        },
                    },
                    "output": {},
                }
            ]
        },
        "agreementId": "0x" + uuid.uuid4().hex,
        "owner": "0x" + "d" * 40,
        "providerSignature": "",
        "environment": environment,
        "nonce": time.time_ns(),
    }


async def _follow(
    session: aiohttp.ClientSession, base: str, job_id: str, owner: str
) -> dict[str, Any]:
    seen = None
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        params = {"jobId": job_id, "owner": owner, "nonce": str(time.time_ns())}
        async with session.get(f"{base}/api/v1/operator/compute", params=params) as resp:
            (job,) = await resp.json()
        if job["status"] != seen:
            seen = job["status"]
            _say(f"  status {job['status']:>2}  {job['statusText']}")
        if job["dateFinished"] is not None:
            return dict(job)
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the demo job did not finish within {TIMEOUT:.0f} s")


async def _run_job(base: str, dataset_url: str, environment: str) -> int:
    async with aiohttp.ClientSession() as session:
        body = _request(dataset_url, environment)
        async with session.post(f"{base}/api/v1/operator/compute", json=body) as resp:
            accepted = await resp.json()
            if resp.status != 200:
                _say(f"POST /compute answered {resp.status}: {accepted}")
                return 1
        job_id = accepted[0]["jobId"]
        _say(f"job {job_id} accepted")
        job = await _follow(session, base, job_id, body["owner"])
        results = job["results"] or []
        _say("results: " + ", ".join(f"{r['filename']} ({r['type']})" for r in results))
        outputs = [i for i, r in enumerate(results) if r["type"] == "output"]
        if job["status"] != 70 or not outputs:
            _say(f"the job did not produce a result (status {job['status']})")
            return 1
        params = {
            "jobId": job_id,
            "owner": body["owner"],
            "index": str(outputs[0]),
            "nonce": str(time.time_ns()),
        }
        async with session.get(f"{base}/api/v1/operator/getResult", params=params) as resp:
            _say(f"result.json: {(await resp.read()).decode()}")
        return 0


async def run(*, keep: bool = False) -> int:
    """Start the embedded stack in a scratch data directory, run one job, print its result."""
    base_settings = load_settings()
    scratch = Path(tempfile.mkdtemp(prefix="operator-argo-demo-"))
    settings = dataclasses.replace(
        base_settings,
        data_dir=scratch,
        results_dir=scratch / "results",
        postgres_host="",
        engine="local",
        storage_backend="local",
        signature_required=False,
        port=0,
        scheduler_interval=0.2,
        log_level="WARNING",
    )
    configure_logging(settings)
    _say(f"operator-argo demo: embedded PostgreSQL and local engine under {scratch}")
    stop = asyncio.Event()
    try:
        async with (
            open_runtime(settings) as runtime,
            background(runtime, stop),
            _dataset_server() as url,
        ):
            runner = web.AppRunner(build_app(runtime), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            base = f"http://127.0.0.1:{runner.addresses[0][1]}"
            _say(f"API on {base}, dataset on {url}")
            try:
                return await _run_job(base, url, settings.environments[0].id)
            finally:
                await runner.cleanup()
    finally:
        if keep:
            _say(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(run()))
