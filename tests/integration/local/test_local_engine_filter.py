"""The filtering step on the local engine: its sandbox, its log, and what publish makes of it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from operator_argo.domain.environment import FilterStep
from operator_argo.domain.names import FILTER_FOLDER, FILTER_LOG
from operator_argo.domain.observation import Observation, Phase
from operator_argo.domain.status import JobStatus, StopReason
from operator_argo.engines.argo.builder import FILTER_LAUNCHER
from operator_argo.engines.argo.builder_env import FILTER_DIR
from operator_argo.engines.local.engine import LocalEngine
from tests.integration.local.localkit import Recorder, make_environment, make_job, replay

WRITE_OUTPUTS = """
import os
for name, text in (("keep.txt", "fine"), ("secret.txt", "the raw rows")):
    open(os.path.join(os.environ["OUTPUTS"], name), "w").write(text)
"""

PROBE = """
import json, os, socket, sys
report = {"cwd": os.getcwd(), "env": sorted(os.environ), "uid": os.getuid()}
for path in ("/data/inputs", "/data/logs", "/data/transformations", "/admin/logs"):
    report[path] = os.path.exists(path)
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=3).close()
    report["net"] = "ok"
except OSError as exc:
    report["net"] = "failed"
os.remove("secret.txt")
print("removed secret.txt")
open("filter-report.json", "w").write(json.dumps(report))
"""


@pytest.fixture
async def tcp_port() -> AsyncIterator[int]:
    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


def filtering(*command: str, timeout: int = 60, **environment: Any) -> Any:
    step = FilterStep(image="filters/any:1", command=command, timeout=timeout)
    return make_environment(filter=step, **environment)


async def run(engine: LocalEngine, environment: Any) -> tuple[Observation, list[Observation]]:
    job = make_job(WRITE_OUTPUTS)
    async with Recorder(engine) as recorder:
        await engine.submit(job, environment)
        final = await recorder.final(job.job_id)
    return final, recorder.of(job.job_id)


def published(final: Observation) -> dict[str, str]:
    output = final.steps["publish"].output
    assert output is not None
    return {item["filename"]: item["type"] for item in output["files"]}


async def test_a_sandboxed_filter_sees_only_the_outputs_and_removes_a_file(
    make_engine: Callable[..., LocalEngine], bwrap: str, tcp_port: int
) -> None:
    engine = make_engine()
    environment = filtering("python3", "-c", PROBE.replace("PORT", str(tcp_port)))
    final, seen = await run(engine, environment)
    assert final.phase is Phase.SUCCEEDED, final.message
    files = published(final)
    assert files == {
        "filter-report.json": "output",
        "keep.txt": "output",
        "algorithm.log": "algorithmLog",
        "configure.log": "configrationLog",
        "filtering.log": "filteringLog",
        "publish.log": "publishLog",
    }
    layout = engine.layout(final.job_id)
    report = json.loads((layout.data / "outputs" / "filter-report.json").read_text())
    assert report["cwd"] == "/data/outputs"
    assert not any(report[p] for p in ("/data/inputs", "/data/logs", "/admin/logs"))
    assert not report["/data/transformations"]
    assert report["net"] == "failed"
    assert "INPUTS" not in report["env"] and "OUTPUTS" in report["env"]
    assert (layout.admin / "filter" / "filtering.log").read_text() == "removed secret.txt\n"
    assert (layout.container_logs / "filter.log").read_text() == "removed secret.txt\n"
    job, statuses = replay(make_job(WRITE_OUTPUTS), seen)
    assert statuses == [1, 20, 30, 40, 50, 60, 70]
    assert job.error is None


async def test_a_failing_filter_publishes_only_the_logs(
    make_engine: Callable[..., LocalEngine], bwrap: str
) -> None:
    engine = make_engine()
    final, seen = await run(engine, filtering("sh", "-c", "echo refusing; exit 3"))
    assert final.phase is Phase.FAILED
    assert final.steps["filter"].exit_code == 3
    assert published(final) == {
        "algorithm.log": "algorithmLog",
        "configure.log": "configrationLog",
        "filtering.log": "filteringLog",
        "publish.log": "publishLog",
    }
    output = final.steps["publish"].output
    assert output is not None and "outputs withheld" in output["error"]
    job, statuses = replay(make_job(WRITE_OUTPUTS), seen)
    assert statuses[-3:] == [50, 60, 70] and job.status is JobStatus.FINISHED
    assert job.error is not None and "filtering step failed" in job.error


async def test_a_filter_past_its_deadline_is_stopped_and_withholds_the_outputs(
    make_engine: Callable[..., LocalEngine], bwrap: str
) -> None:
    engine = make_engine()
    final, seen = await run(engine, filtering("sleep", "30", timeout=1))
    assert final.steps["filter"].deadline_exceeded
    assert "keep.txt" not in published(final)
    job, _ = replay(make_job(WRITE_OUTPUTS), seen)
    assert job.stopreq is StopReason.DEADLINE and job.status is JobStatus.FINISHED


async def test_a_stop_while_the_filter_runs_withholds_the_outputs_and_publishes_the_logs(
    make_engine: Callable[..., LocalEngine], bwrap: str
) -> None:
    engine = make_engine()
    job = make_job(WRITE_OUTPUTS)
    async with Recorder(engine) as recorder:
        await engine.submit(job, filtering("sh", "-c", "echo inspecting; sleep 300"))
        await recorder.until(job.job_id, lambda o: "filter" in o.steps)
        log = engine.layout(job.job_id).admin / FILTER_FOLDER / FILTER_LOG
        for _ in range(100):  # until the filter has begun writing its log
            if "inspecting" in (log.read_text() if log.exists() else ""):
                break
            await asyncio.sleep(0.1)
        await engine.stop(job)
        final = await recorder.final(job.job_id)
    assert final.phase is Phase.FAILED and final.message == "Stopped with strategy 'Stop'"
    assert final.steps["filter"].phase is Phase.FAILED
    assert not final.steps["filter"].deadline_exceeded
    assert set(published(final)) == {
        "algorithm.log", "configure.log", "filtering.log", "publish.log"
    }  # fmt: skip
    stopped = make_job(WRITE_OUTPUTS, stopreq=StopReason.REQUESTED)  # as PUT /compute stores it
    end, statuses = replay(stopped, recorder.of(job.job_id))
    assert statuses[-3:] == [50, 60, 70] and end.status is JobStatus.FINISHED
    assert end.stopreq is StopReason.REQUESTED and end.error is not None


async def test_an_algorithm_failure_skips_the_filter_and_withholds_the_outputs(
    make_engine: Callable[..., LocalEngine], bwrap: str
) -> None:
    engine = make_engine()
    job = make_job(WRITE_OUTPUTS + "\nraise SystemExit(4)\n")
    async with Recorder(engine) as recorder:
        await engine.submit(job, filtering("true"))
        final = await recorder.final(job.job_id)
    assert "filter" not in final.steps
    assert "keep.txt" not in published(final) and "secret.txt" not in published(final)


async def test_without_the_sandbox_the_filter_runs_as_a_plain_process(
    make_engine: Callable[..., LocalEngine],
) -> None:
    engine = make_engine(sandbox=False)
    final, _ = await run(engine, filtering("sh", "-c", 'rm "$OUTPUTS/secret.txt" && echo done'))
    assert final.phase is Phase.SUCCEEDED, final.message
    assert "secret.txt" not in published(final) and "keep.txt" in published(final)


@pytest.mark.parametrize("path", ["/usr/bin:/bin", "/nonexistent"], ids=["tee", "without-tee"])
@pytest.mark.parametrize(("code", "passed"), [(0, True), (5, False)])
async def test_the_filter_launcher_keeps_the_status_and_marks_only_a_success(
    tmp_path: Path, path: str, code: int, passed: bool
) -> None:
    launcher = FILTER_LAUNCHER.replace(FILTER_DIR, str(tmp_path))
    command = ["/bin/sh", "-c", f"echo checked; echo warned >&2; exit {code}"]
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", launcher, "filter", *command,
        env={"PATH": path},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    shown, _ = await proc.communicate()
    assert proc.returncode == code
    assert sorted((tmp_path / "filtering.log").read_text().split()) == ["checked", "warned"]
    assert (tmp_path / "passed").exists() is passed
    # With tee the output reaches the container's own log too; without, only the file.
    assert sorted(shown.decode().split()) == (
        ["checked", "warned"] if path != "/nonexistent" else []
    )
