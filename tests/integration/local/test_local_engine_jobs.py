"""The local engine runs real jobs (real builder, real steps) and reports them like Argo would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestServer

from operator_argo.config import Settings
from operator_argo.domain.errors import InvalidRequest, Unavailable
from operator_argo.domain.names import workflow_name
from operator_argo.domain.observation import Observation, Phase
from operator_argo.domain.status import JobStatus, StopReason
from operator_argo.engines.local.engine import LocalEngine
from tests.integration.local.conftest import DATASET
from tests.integration.local.localkit import (
    Recorder,
    make_environment,
    make_job,
    processes_with,
    read,
    replay,
)
from tests.kit.clock import VirtualClock

SUM_INPUT = """
import json, os
did = json.loads(os.environ["DIDS"])[0]
numbers = open(os.path.join(os.environ["INPUTS"], did, "0")).read().split()
open(os.path.join(os.environ["OUTPUTS"], "sum.txt"), "w").write(str(sum(map(int, numbers))))
print("summed", len(numbers), "numbers")
"""


async def test_happy_job_reports_each_step_and_reaches_70(
    make_engine: Callable[..., LocalEngine], data_server: TestServer, settings: Settings
) -> None:
    engine = make_engine()
    job = make_job(SUM_INPUT, urls=[str(data_server.make_url("/dataset.csv"))])
    async with Recorder(engine) as recorder:
        name = await engine.submit(job, make_environment())
        assert await engine.submit(job, make_environment()) == name  # idempotent
        final = await recorder.final(job.job_id)
    observations = recorder.of(job.job_id)
    ok, run, done = Phase.SUCCEEDED, Phase.RUNNING, Phase.SUCCEEDED
    assert name == workflow_name(job.job_id)
    assert [(o.phase, {k: s.phase for k, s in o.steps.items()}) for o in observations] == [
        (run, {"configure": run}),
        (run, {"configure": ok}),
        (run, {"configure": ok, "algorithm": run}),
        (run, {"configure": ok, "algorithm": ok}),
        (run, {"configure": ok, "algorithm": ok, "publish": run}),
        (done, {"configure": ok, "algorithm": ok, "publish": ok}),
    ]
    assert final.steps["algorithm"].exit_code == 0
    assert final.started_at is not None and final.finished_at is not None
    assert final.steps["configure"].output is not None
    end, statuses = replay(job, observations)
    assert statuses == [1, 20, 30, 40, 60, 70]
    assert end.status is JobStatus.FINISHED and end.results is not None
    assert [r.type for r in end.results] == [
        "output",
        "algorithmLog",
        "configrationLog",
        "publishLog",
    ]
    published = settings.results_dir / end.results[0].key
    assert published.read_text() == str(sum(int(n) for n in DATASET.split()))
    assert "summed 3 numbers" in read(settings.results_dir / end.results[1].key)


async def test_algorithm_exit_code_is_kept(make_engine: Callable[..., LocalEngine]) -> None:
    engine = make_engine()
    job = make_job("import sys\nprint('boom')\nsys.exit(3)\n")
    async with Recorder(engine) as recorder:
        await engine.submit(job, make_environment())
        final = await recorder.final(job.job_id)
    algorithm = final.steps["algorithm"]
    assert (algorithm.phase, algorithm.exit_code) == (Phase.FAILED, 3)
    assert final.phase is Phase.FAILED and final.steps["publish"].phase is Phase.SUCCEEDED
    end, statuses = replay(job, recorder.of(job.job_id))
    assert statuses[-1] == 70 and end.termination is not None
    assert end.termination.exit_code == 3
    log = engine.layout(job.job_id).data / "logs" / "algorithm.log"
    assert "boom" in read(log)


async def test_input_that_cannot_be_fetched_ends_31(
    make_engine: Callable[..., LocalEngine], data_server: TestServer
) -> None:
    engine = make_engine()
    job = make_job(SUM_INPUT, urls=[str(data_server.make_url("/missing.csv"))])
    async with Recorder(engine) as recorder:
        await engine.submit(job, make_environment())
        final = await recorder.final(job.job_id)
    assert final.steps["configure"].exit_code == 31
    assert "algorithm" not in final.steps  # never started, as in Argo
    assert final.steps["publish"].phase is Phase.SUCCEEDED
    _, statuses = replay(job, recorder.of(job.job_id))
    assert statuses == [1, 20, 31]  # 20 while publish runs: never 60, then lower


async def test_algorithm_past_its_deadline_is_killed(
    make_engine: Callable[..., LocalEngine],
) -> None:
    engine = make_engine(kill_grace=1.0)
    job = make_job("import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n")
    async with Recorder(engine) as recorder:
        await engine.submit(job, make_environment(max_job_duration=2))
        running = await recorder.until(
            job.job_id, lambda o: "algorithm" in o.steps and not o.steps["algorithm"].phase.is_done
        )
        started = time.monotonic()
        final = await recorder.final(job.job_id)
        killed = final.steps["algorithm"]
    assert running.steps["algorithm"].started_at is not None
    assert killed.deadline_exceeded and killed.phase is Phase.FAILED
    assert killed.finished_at is not None and killed.started_at is not None
    assert (killed.finished_at - killed.started_at).total_seconds() < 2 + 1 + 2
    assert time.monotonic() - started < 2 + 1 + 15  # kill, then publish
    assert final.steps["publish"].phase is Phase.SUCCEEDED
    end, statuses = replay(job, recorder.of(job.job_id))
    assert statuses[-1] == 70 and end.stopreq is StopReason.DEADLINE


@pytest.mark.parametrize("sandbox", [True, False], ids=["bwrap", "plain"])
async def test_stop_while_running_still_publishes_and_leaves_no_process(
    make_engine: Callable[..., LocalEngine], settings: Settings, sandbox: bool
) -> None:
    engine = make_engine(sandbox=sandbox)
    marker = f"stop-marker-{time.time_ns()}"
    code = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', '{marker}'])\n"
        "print('started child', flush=True)\n"
        "time.sleep(300)\n"
    )
    job = make_job(code)
    async with Recorder(engine) as recorder:
        await engine.submit(job, make_environment())
        await recorder.until(job.job_id, lambda o: "algorithm" in o.steps)
        for _ in range(100):  # until the algorithm has started its child
            if "started child" in read(engine.layout(job.job_id).data / "logs" / "algorithm.log"):
                break
            await asyncio.sleep(0.1)
        assert processes_with(marker), read(
            engine.layout(job.job_id).data / "logs" / "algorithm.log"
        )
        await engine.stop(job)
        final = await recorder.final(job.job_id)
    assert any(o.stopping for o in recorder.of(job.job_id))
    assert final.phase is Phase.FAILED and final.message == "Stopped with strategy 'Stop'"
    assert final.steps["algorithm"].phase is Phase.FAILED
    publish = final.steps["publish"]
    assert publish.phase is Phase.SUCCEEDED and publish.output is not None
    assert processes_with(marker) == []
    end, statuses = replay(job, recorder.of(job.job_id))
    assert statuses[-1] == 70
    assert {r.type for r in end.results or ()} >= {"algorithmLog", "publishLog"}
    log_key = next(r.key for r in end.results or () if r.type == "algorithmLog")
    assert "started child" in read(settings.results_dir / log_key)


async def test_delete_stops_and_removes_the_job_directory(
    make_engine: Callable[..., LocalEngine],
) -> None:
    engine = make_engine()
    marker = f"delete-marker-{time.time_ns()}"
    job = make_job(f"import time\ntime.sleep(300)  # {marker}\n")
    async with Recorder(engine) as recorder:
        await engine.submit(job, make_environment())
        await recorder.until(job.job_id, lambda o: "algorithm" in o.steps)
        root = engine.layout(job.job_id).root
        assert root.is_dir()
        await engine.delete(job)
        final = await recorder.final(job.job_id, timeout=5)
    assert not root.exists()
    assert final.steps["publish"].phase is Phase.SUCCEEDED  # stopped, published, then removed
    await engine.delete(job)  # missing is fine
    await engine.stop(job)


async def test_observations_wait_out_a_database_outage_and_a_failing_one_is_skipped(
    make_engine: Callable[..., LocalEngine],
) -> None:
    clock = VirtualClock()
    engine = make_engine(clock=clock)
    job = make_job("print('hi')")
    delivered: list[Observation] = []
    dropped: list[Observation] = []
    calls = 0
    done = asyncio.Event()

    async def sink(observation: Observation) -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:  # the first observation meets the database down twice
            raise Unavailable("the database is not reachable")
        if calls == 4:  # the second one is refused for good: dropped, not retried
            dropped.append(observation)
            raise InvalidRequest("an observation the reconciler cannot apply")
        delivered.append(observation)
        if observation.finished:
            done.set()

    loop = asyncio.create_task(engine.watch(sink))
    try:
        await engine.submit(job, make_environment())
        await asyncio.wait_for(done.wait(), 60)
        assert not loop.done()
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    first, *rest = delivered
    assert first.steps["configure"].phase is Phase.RUNNING  # kept through the outage
    assert clock.slept == [0.5, 1.0]  # offered again with the capped backoff
    assert [s.phase for s in dropped[0].steps.values()] == [Phase.SUCCEEDED]
    assert len(rest) == 4  # everything after the dropped one arrived, in order
    assert rest[-1].finished and rest[-1].steps["publish"].phase is Phase.SUCCEEDED
