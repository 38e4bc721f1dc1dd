"""After the operator is killed no algorithm keeps running, and resume runs the job again."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from operator_argo.config import Settings
from operator_argo.domain.job import Job, spec_to_dict
from operator_argo.domain.names import workflow_name
from operator_argo.domain.observation import Phase
from operator_argo.domain.ports import Takeover
from operator_argo.domain.status import StopReason
from operator_argo.engines.local.engine import LocalEngine
from tests.integration.local.localkit import (
    Recorder,
    make_environment,
    make_job,
    processes_with,
    read,
    replay,
)

ROOT = Path(__file__).resolve().parents[3]


def _algorithm(marker: str) -> str:
    """Starts a long-lived child carrying `marker`, logs, then works for a few seconds."""
    return (
        "import os, subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', '{marker}'],\n"
        "                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print('working', flush=True)\n"
        "time.sleep(4)\n"
        "open(os.path.join(os.environ['OUTPUTS'], 'done.txt'), 'w').write('done')\n"
    )


async def _kill_operator_mid_job(job: Job, settings: Settings, sandbox: bool) -> Path:
    """Run `job` in a separate operator process and SIGKILL it once the algorithm works."""
    job_file = settings.data_dir.parent / f"{job.job_id}.json"
    job_file.parent.mkdir(parents=True, exist_ok=True)
    job_file.write_text(json.dumps({"job_id": job.job_id, "spec": spec_to_dict(job.spec)}))
    operator = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.local.operator_stub",
        str(settings.data_dir),
        str(job_file),
        "1" if sandbox else "0",
        cwd=ROOT,
    )
    log = settings.data_dir / "jobs" / job.job_id / "data" / "logs" / "algorithm.log"
    try:
        for _ in range(300):
            if "working" in read(log):
                break
            await asyncio.sleep(0.1)
        assert "working" in read(log)
    finally:
        operator.send_signal(signal.SIGKILL)
        await operator.wait()
    return log


async def _gone(marker: str, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not processes_with(marker):
            return True
        await asyncio.sleep(0.1)
    return False


@pytest.mark.parametrize("sandbox", [True, False], ids=["bwrap", "plain"])
async def test_killed_operator_leaves_no_algorithm_and_resume_reruns_the_job(
    make_engine: Callable[..., LocalEngine], settings: Settings, sandbox: bool
) -> None:
    marker = f"restart-marker-{time.time_ns()}"
    job = make_job(_algorithm(marker))
    await _kill_operator_mid_job(job, settings, sandbox)
    if sandbox:
        # bubblewrap dies with the operator and takes the whole PID namespace with it.
        assert await _gone(marker, within=5)
    else:
        # The algorithm died with its parent; a child it started is still around until resume.
        assert processes_with(marker)
    engine = make_engine(sandbox=sandbox)
    async with Recorder(engine) as recorder:
        takeover = await engine.resume([(job, make_environment())])
        assert takeover == Takeover(submitted={job.job_id: workflow_name(job.job_id)})
        assert not processes_with(marker)  # leftovers are killed before anything runs again
        assert await engine.resume([(job, make_environment())]) == Takeover()  # once only
        final = await recorder.final(job.job_id)
    assert final.phase is Phase.SUCCEEDED
    assert (engine.layout(job.job_id).data / "outputs" / "done.txt").read_text() == "done"
    _, statuses = replay(job, recorder.of(job.job_id))
    assert statuses == [1, 20, 30, 40, 60, 70]
    assert len(recorder.of(job.job_id)) == 6  # one run, from the start
    assert await _gone(marker, within=5)


async def test_resume_of_a_stopped_job_only_publishes(
    make_engine: Callable[..., LocalEngine], settings: Settings
) -> None:
    job = make_job("print('must not run again')\n", stopreq=StopReason.REQUESTED)
    layout = make_engine().layout(job.job_id)
    (layout.data / "logs").mkdir(parents=True)
    (layout.data / "logs" / "algorithm.log").write_text("partial log\n")
    engine = make_engine()
    async with Recorder(engine) as recorder:
        await engine.resume([(job, make_environment())])
        final = await recorder.final(job.job_id)
    assert set(final.steps) == {"publish"}
    assert final.steps["publish"].phase is Phase.SUCCEEDED
    assert read(layout.data / "logs" / "algorithm.log") == "partial log\n"
    end, statuses = replay(job, recorder.of(job.job_id))
    assert statuses[-1] == 70
    log_key = next(r.key for r in end.results or () if r.type == "algorithmLog")
    assert read(settings.results_dir / log_key) == "partial log\n"


async def test_a_job_whose_workflow_cannot_be_planned_again_is_refused(
    settings: Settings,
) -> None:
    def broken_build(*_: object) -> dict[str, object]:
        return {"kind": "Workflow"}  # no metadata, no spec: nothing to run

    engine = LocalEngine(settings, build=broken_build, key_for=lambda env: None)
    job = make_job("print('x')\n")
    takeover = await engine.resume([(job, make_environment())])
    assert takeover.submitted == {}
    assert takeover.refused[job.job_id].startswith("cannot run the workflow again: not a workflow")
    await engine.close()
