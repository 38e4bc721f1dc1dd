"""End-to-end local engine benchmark through the HTTP API, on the embedded PostgreSQL.

1. Latency: N trivial raw-code jobs one after another: request accepted (dateCreated) -> the
   algorithm step started (algorithm_started_at, as recorded from the engine), and request ->
   dateFinished (the whole job, results published).
2. Throughput: 20 trivial jobs submitted at once with maxJobs = 20: jobs finished per second.

Run from the repository root: `python bench/local_jobs_http.py [--runs 10] [--concurrent 20]`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from operator_argo.config import load_settings
from operator_argo.domain.environment import Environment
from tests.operatorkit import finished, running_operator, start_job

CODE = "import os\nopen(os.path.join(os.environ['OUTPUTS'], 'r.txt'), 'w').write('ok')\n"


def request(environment: str) -> dict[str, Any]:
    return {
        "workflow": {
            "stages": [
                {
                    "index": 0,
                    "input": [],
                    "compute": {"Instances": 1, "namespace": environment, "maxtime": 60},
                    "algorithm": {
                        "id": "",
                        "rawcode": CODE,
                        "container": {"entrypoint": "python $ALGO", "image": "python", "tag": "3"},
                    },
                    "output": {},
                }
            ]
        },
        "agreementId": "0x" + uuid.uuid4().hex,
        "owner": "0x" + "ab" * 20,
        "providerSignature": "",
        "environment": environment,
        "nonce": time.time_ns(),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--concurrent", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    data = Path(tempfile.mkdtemp(prefix="operator-argo-bench-"))
    env = Environment(id="bench", namespace="bench", max_jobs=args.concurrent, max_job_duration=60)
    settings = dataclasses.replace(
        load_settings({}), data_dir=data, results_dir=data / "results", environments=(env,)
    )
    async with running_operator(settings) as (runtime, client):
        await finished(client, await start_job(client, request("bench")))  # warm-up
        to_start, totals = [], []
        for _ in range(args.runs):
            job_id = await start_job(client, request("bench"))
            await finished(client, job_id)
            job = await runtime.store.get_job(job_id)
            assert job is not None and job.algorithm_started_at and job.date_finished
            to_start.append((job.algorithm_started_at - job.date_created).total_seconds())
            totals.append((job.date_finished - job.date_created).total_seconds())
        began = time.perf_counter()
        ids = [await start_job(client, request("bench")) for _ in range(args.concurrent)]
        for job_id in ids:
            assert (await finished(client, job_id, timeout=300))["status"] == 70
        wall = time.perf_counter() - began
    print(
        f"request -> algorithm started: median {statistics.median(to_start):.3f} s "
        f"(min {min(to_start):.3f}, max {max(to_start):.3f}) over {args.runs} jobs"
    )
    print(
        f"request -> finished (results published): median {statistics.median(totals):.3f} s "
        f"(min {min(totals):.3f}, max {max(totals):.3f})"
    )
    print(
        f"{args.concurrent} concurrent trivial jobs: {wall:.2f} s wall, "
        f"{args.concurrent / wall:.2f} jobs/s"
    )


if __name__ == "__main__":
    asyncio.run(main())
