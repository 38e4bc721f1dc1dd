"""The bubblewrap sandbox: no network, no writes outside outputs and logs, no secrets, limits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import structlog

from operator_argo.config import IpfsSettings, Settings
from operator_argo.domain.observation import Phase
from operator_argo.engines.argo.builder import build_workflow
from operator_argo.engines.local.engine import LocalEngine
from tests.integration.local.localkit import Recorder, make_environment, make_job, read

PROBE = """
import json, os, socket
report = {"pid": os.getpid(), "uid": os.getuid(), "env": sorted(os.environ)}
def attempt(name, action):
    try:
        action()
        report[name] = "ok"
    except (OSError, MemoryError) as exc:
        report[name] = f"failed: {getattr(exc, 'strerror', None) or type(exc).__name__}"
def write(path):
    return lambda: open(path, "w").write("x")
attempt("net", lambda: socket.create_connection(("127.0.0.1", PORT), timeout=3).close())
attempt("inputs", write("/data/inputs/x"))
attempt("transformations", write("/data/transformations/x"))
attempt("etc", write("/tmp/../etc/x"))
attempt("usr", write("/usr/x"))
attempt("admin", lambda: os.listdir("/admin"))
attempt("tmp", write("/tmp/x"))
attempt("logs", write("/data/logs/x"))
attempt("memory", lambda: bytearray(3 * 1024**3))
report["processes"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
open("/data/outputs/report.json", "w").write(json.dumps(report))
"""


@pytest.fixture
async def tcp_server() -> AsyncIterator[tuple[int, list[int]]]:
    """A TCP server on 127.0.0.1 that counts the connections it accepts."""
    accepted: list[int] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], accepted
    server.close()
    await server.wait_closed()


async def _probe(engine: LocalEngine, port: int, **environment: Any) -> dict[str, Any]:
    job = make_job(PROBE.replace("PORT", str(port)))
    async with Recorder(engine) as recorder:
        await engine.submit(job, make_environment(ram_gb=1, **environment))
        final = await recorder.final(job.job_id)
    assert final.steps["algorithm"].phase is Phase.SUCCEEDED, read(
        engine.layout(job.job_id).data / "logs" / "algorithm.log"
    )
    report: dict[str, Any] = json.loads(
        (engine.layout(job.job_id).data / "outputs" / "report.json").read_text()
    )
    return report


async def test_sandboxed_algorithm_is_confined(
    bwrap: str,
    settings: Settings,
    tcp_server: tuple[int, list[int]],
) -> None:
    secret_settings = Settings(
        data_dir=settings.data_dir,
        results_dir=settings.results_dir,
        ipfs=IpfsSettings(url="http://127.0.0.1:1", api_key="ipfs-secret"),
    )
    engine = LocalEngine(
        secret_settings, build=build_workflow, key_for=lambda env: "ab" * 32, bwrap=bwrap
    )
    try:
        port, accepted = tcp_server
        report = await _probe(engine, port)
    finally:
        await engine.close()
    assert report["net"].startswith("failed") and accepted == []
    for path in ("inputs", "transformations", "etc", "usr"):
        assert report[path] == "failed: Read-only file system", path
    assert report["admin"] == "failed: No such file or directory"
    assert report["tmp"] == "ok" and report["logs"] == "ok"
    assert report["memory"] == "failed: MemoryError"  # RLIMIT_AS from ramGB
    assert report["uid"] == 65534
    # Its own PID namespace: bwrap's init, the launcher's shells and tee, python; not the host's.
    assert len(report["processes"]) <= 8
    assert not [name for name in report["env"] if "KEY" in name or name.startswith("IPFS")]
    assert {"DIDS", "VOLUME", "LOGS", "INPUTS", "OUTPUTS", "PATH"} <= set(report["env"])


async def test_environment_that_allows_network_can_connect(
    make_engine: Callable[..., LocalEngine], bwrap: str, tcp_server: tuple[int, list[int]]
) -> None:
    port, accepted = tcp_server
    report = await _probe(make_engine(), port, allow_network=True)
    assert report["net"] == "ok" and accepted == [1]


async def test_without_bwrap_jobs_run_plainly_and_say_so(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tcp_server: tuple[int, list[int]]
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with structlog.testing.capture_logs() as logs:
        engine = LocalEngine.from_settings(settings, build=build_workflow, key_for=lambda env: None)
    assert not engine.sandboxed
    assert [e for e in logs if e["event"] == "sandbox_unavailable" and e["log_level"] == "warning"]
    code = (
        "import os\n"
        "open(os.path.join(os.environ['OUTPUTS'], 'where.txt'), 'w').write(os.environ['OUTPUTS'])\n"
    )
    job = make_job(code)
    try:
        async with Recorder(engine) as recorder:
            await engine.submit(job, make_environment())
            final = await recorder.final(job.job_id)
    finally:
        await engine.close()
    assert final.phase is Phase.SUCCEEDED
    outputs = engine.layout(job.job_id).data / "outputs"
    assert (outputs / "where.txt").read_text() == str(outputs)  # /data mapped to the job dir
