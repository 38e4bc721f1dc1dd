"""Local engine overhead: submit -> algorithm start, and a trivial job's total time (engine only).

Runs N trivial raw-code jobs one after another through LocalEngine with the real builder and
steps, and prints medians as a Markdown table for bench/README.md.

    python bench/local_engine.py [--runs 10] [--plain]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from operator_argo.config import Settings
from operator_argo.domain.environment import Environment
from operator_argo.domain.job import (
    Address,
    AlgorithmSpec,
    ContainerSpec,
    Job,
    JobId,
    JobSpec,
)
from operator_argo.domain.observation import Observation
from operator_argo.domain.status import JobStatus
from operator_argo.engines.argo.builder import build_workflow
from operator_argo.engines.local.engine import LocalEngine

# The algorithm records when its own code starts running (wall clock).
ALGORITHM = "import os, time\nopen(os.environ['OUTPUTS'] + '/t', 'w').write(repr(time.time()))\n"
ENVIRONMENT = Environment(id="bench", namespace="bench", max_job_duration=60)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sample:
    to_algorithm_code: float  # submit -> first line of the algorithm runs
    to_algorithm_step: float  # submit -> the engine started the algorithm step
    configure: float
    publish: float
    total: float  # submit -> final observation


def _job() -> Job:
    container = ContainerSpec(entrypoint="python $ALGO", image="python", tag="3.11")
    return Job(
        job_id=JobId(uuid.uuid4().hex),
        owner=Address("0x00000000000000000000000000000000000000aa"),
        agreement_id=uuid.uuid4().hex,
        environment=ENVIRONMENT.id,
        spec=JobSpec(
            inputs=(), algorithm=AlgorithmSpec(did=None, container=container, rawcode=ALGORITHM)
        ),
        status=JobStatus.QUEUED,
        date_created=dt.datetime.now(dt.UTC),
    )


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> float:
    assert start is not None and end is not None
    return (end - start).total_seconds()


async def _one(engine: LocalEngine, finals: dict[str, asyncio.Future[Observation]]) -> Sample:
    job = _job()
    finals[job.job_id] = asyncio.get_running_loop().create_future()
    wall, start = time.time(), time.perf_counter()
    await engine.submit(job, ENVIRONMENT)
    final = await finals[job.job_id]
    total = time.perf_counter() - start
    algo_start = float((engine.layout(job.job_id).data / "outputs" / "t").read_text())
    algorithm, configure, publish = (final.steps[n] for n in ("algorithm", "configure", "publish"))
    assert algorithm.started_at is not None
    await engine.delete(job)
    return Sample(
        to_algorithm_code=algo_start - wall,
        to_algorithm_step=algorithm.started_at.timestamp() - wall,
        configure=_seconds(configure.started_at, configure.finished_at),
        publish=_seconds(publish.started_at, publish.finished_at),
        total=total,
    )


async def bench(runs: int, sandbox: bool) -> list[Sample]:
    with tempfile.TemporaryDirectory(prefix="bench-local-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", results_dir=Path(tmp) / "results")
        bwrap = shutil.which("bwrap") if sandbox else None
        engine = LocalEngine(settings, build=build_workflow, key_for=lambda env: None, bwrap=bwrap)
        finals: dict[str, asyncio.Future[Observation]] = {}

        async def sink(obs: Observation) -> None:
            if obs.finished and not finals[obs.job_id].done():
                finals[obs.job_id].set_result(obs)

        watcher = asyncio.create_task(engine.watch(sink))
        await _one(engine, finals)  # warm-up: hera import, first builds
        samples = [await _one(engine, finals) for _ in range(runs)]
        watcher.cancel()
        await engine.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--plain", action="store_true", help="no bubblewrap sandbox")
    args = parser.parse_args()
    samples = asyncio.run(bench(args.runs, sandbox=not args.plain))
    mode = "plain processes" if args.plain else "bubblewrap sandbox"
    version = sys.version.split()[0]
    print(f"Local engine, {mode}, median of {args.runs} trivial jobs (python {version})")
    print("| measure | median s | min s | max s |")
    print("|---|---|---|---|")
    for field in dataclasses.fields(Sample):
        values = [getattr(s, field.name) for s in samples]
        print(
            f"| {field.name} | {statistics.median(values):.3f} | {min(values):.3f} "
            f"| {max(values):.3f} |"
        )


if __name__ == "__main__":
    main()
