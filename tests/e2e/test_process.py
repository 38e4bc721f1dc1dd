"""The real `operator-argo` process: SIGKILL mid-job and restart, and the demo command."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from eth_account import Account

from operator_argo.config import Settings
from operator_argo.domain.job import Address, JobUpdate, ResultFile
from operator_argo.domain.names import workflow_name
from operator_argo.domain.status import JobStatus
from operator_argo.store.jobs import PostgresJobStore
from tests.e2e.conftest import OWNER, job_request
from tests.fakes.kube import FakeKube, fake_kube
from tests.fakes.ocean import FakeOcean
from tests.integration.service.test_argo_pipeline import published, raw_request
from tests.kit.factories import new_job

__all__ = ["fake_kube"]

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_env(settings: Settings, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "OPERATOR_"))}
    env.update(
        POSTGRES_HOST=settings.postgres_host,
        POSTGRES_PORT=str(settings.postgres_port),
        POSTGRES_USER=settings.postgres_user,
        POSTGRES_PASSWORD=settings.postgres_password,
        POSTGRES_DB=settings.postgres_db,
        OPERATOR_DATA_DIR=str(settings.data_dir),
        OPERATOR_PORT=str(port),
        OPERATOR_SCHEDULER_INTERVAL="0.1",
        OPERATOR_ENVIRONMENTS=json.dumps(
            [{"id": "ocean-compute", "maxJobs": 2, "maxJobDuration": 60}]
        ),
        LOG_FORMAT="json",
    )
    return env


@pytest.fixture
def operator_process(
    settings_factory: Callable[..., Settings],
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    settings = settings_factory()
    port = free_port()
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, **extra_env: str) -> subprocess.Popen[bytes]:
        log_path = settings.data_dir.parent / f"serve-{len(started)}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "operator_argo.cli", "serve", *args],
                env=serve_env(settings, port) | extra_env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        proc.base_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
        proc.log_path = log_path  # type: ignore[attr-defined]
        proc.results_dir = settings.results_dir  # type: ignore[attr-defined]
        started.append(proc)
        return proc

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def wait_ready(session: aiohttp.ClientSession, base: str, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            async with session.get(f"{base}/readyz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError("the operator did not become ready")


async def status_of(session: aiohttp.ClientSession, base: str, job_id: str) -> dict:
    async with session.get(f"{base}/api/v1/operator/compute", params={"jobId": job_id}) as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())[0]


async def wait_status(
    session: aiohttp.ClientSession, base: str, job_id: str, done: Callable[[dict], bool]
) -> dict:
    for _ in range(600):
        job = await status_of(session, base, job_id)
        if done(job):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} stuck at {job}")


async def test_sigkill_mid_job_then_restart_the_job_still_ends(
    operator_process: Callable[..., subprocess.Popen[bytes]], ocean: FakeOcean
) -> None:
    code = (
        "import os, time\ntime.sleep(3)\n"
        "open(os.path.join(os.environ['OUTPUTS'], 'done.txt'), 'w').write('done')\n"
    )
    first = operator_process()
    base = first.base_url  # type: ignore[attr-defined]
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, base)
        async with session.post(
            f"{base}/api/v1/operator/compute", json=job_request(ocean, code)
        ) as resp:
            assert resp.status == 200, await resp.text()
            job_id = (await resp.json())[0]["jobId"]
        await wait_status(session, base, job_id, lambda j: j["status"] == 40)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

        second = operator_process()
        await wait_ready(session, base)
        job = await wait_status(session, base, job_id, lambda j: j["dateFinished"] is not None)
        assert job["status"] == 70
        assert job["results"][0]["type"] == "output"
        params = {"jobId": job_id, "index": "0", "owner": OWNER}
        async with session.get(f"{base}/api/v1/operator/getResult", params=params) as resp:
            assert await resp.read() == b"done"
    assert second.poll() is None
    # Both ran on uvloop, the default when it is installed (as the package requires it).
    assert event_loops(first) == event_loops(second) == ["uvloop"]


def test_the_demo_runs_a_real_job_and_exits_0(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "OPERATOR_"))}
    result = subprocess.run(
        [sys.executable, "-m", "operator_argo.cli", "demo"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "status 70  Job finished" in result.stdout
    assert '"rows": 100' in result.stdout


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


async def test_get_result_streams_1_gib_without_growing_the_server(
    operator_process: Callable[..., subprocess.Popen[bytes]],
    job_store: PostgresJobStore,
    settings_factory: Callable[..., Settings],
) -> None:
    size = 1 << 30
    settings = settings_factory()
    job = await job_store.insert_job(new_job("ocean-compute", owner=Address(OWNER)))
    path = settings.results_dir / job.job_id / "big.bin"
    path.parent.mkdir(parents=True)
    with open(path, "wb") as handle:
        handle.truncate(size)  # sparse: a gigabyte to stream without a gigabyte of disk
    result = ResultFile(
        filename="big.bin", filesize=size, type="output", key=f"{job.job_id}/big.bin"
    )
    update = JobUpdate(status=JobStatus.FINISHED, finished=True, results=(result,))
    assert await job_store.apply_update(job.job_id, update) is not None

    proc = operator_process()
    base = proc.base_url  # type: ignore[attr-defined]
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, base)
        params = {"jobId": job.job_id, "index": "0", "owner": OWNER}
        async with session.get(
            f"{base}/api/v1/operator/getResult", params=params
        ) as resp:  # warm-up
            assert resp.status == 200
            await resp.content.read(1 << 20)
        before = peak_rss_mib(proc.pid)
        started = time.perf_counter()
        received = 0
        async with session.get(f"{base}/api/v1/operator/getResult", params=params) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Length"] == str(size)
            async for chunk in resp.content.iter_chunked(1 << 20):
                received += len(chunk)
        seconds = time.perf_counter() - started
        after = peak_rss_mib(proc.pid)
        headers = {"Range": f"bytes={size - 10}-"}
        async with session.get(
            f"{base}/api/v1/operator/getResult", params=params, headers=headers
        ) as resp:
            assert resp.status == 206 and await resp.read() == b"\0" * 10
    assert received == size
    print(
        f"getResult streamed 1 GiB in {seconds:.2f} s ({size / seconds / 1e6:.0f} MB/s); "
        f"server peak RSS {before:.1f} -> {after:.1f} MiB"
    )
    assert after - before < 16, f"the server grew from {before:.1f} to {after:.1f} MiB"


def event_loops(proc: subprocess.Popen[bytes]) -> list[str]:
    """The event loop each start-up of `proc` reported."""
    lines = proc.log_path.read_text().splitlines()  # type: ignore[attr-defined]
    return [json.loads(line)["event_loop"] for line in lines if "operator_listening" in line]


async def test_serve_on_the_argo_engine_runs_a_job_to_70(
    operator_process: Callable[..., subprocess.Popen[bytes]], fake_kube: FakeKube, tmp_path: Path
) -> None:
    namespace = "ocean-compute"
    proc = operator_process(
        OPERATOR_ENGINE="argo",
        KUBECONFIG=str(fake_kube.write_kubeconfig(tmp_path / "kubeconfig")),
        OPERATOR_ENVIRONMENTS=json.dumps(
            [{"id": namespace, "namespace": namespace, "maxJobs": 2, "maxJobDuration": 60}]
        ),
    )
    base = proc.base_url  # type: ignore[attr-defined]
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, base)
        async with session.post(f"{base}/api/v1/operator/compute", json=raw_request()) as resp:
            assert resp.status == 200, await resp.text()
            job_id = (await resp.json())[0]["jobId"]
        workflow = workflow_name(job_id)
        for _ in range(300):
            if (namespace, workflow) in fake_kube.workflows:
                break
            await asyncio.sleep(0.05)
        # Play the controller; the operator process watches and reconciles over HTTP.
        fake_kube.set_step(namespace, workflow, "configure", "Running")
        await wait_status(session, base, job_id, lambda j: j["status"] == 20)
        fake_kube.set_step(
            namespace, workflow, "configure", "Succeeded", exit_code=0, result={"error": None}
        )
        fake_kube.set_step(namespace, workflow, "algorithm", "Succeeded", exit_code=0)
        result = published(job_id, proc.results_dir)  # type: ignore[attr-defined]
        fake_kube.set_step(namespace, workflow, "publish", "Succeeded", exit_code=0, result=result)
        fake_kube.finish(namespace, workflow, "Succeeded")
        job = await wait_status(session, base, job_id, lambda j: j["dateFinished"] is not None)
        assert job["status"] == 70
        assert [r["type"] for r in job["results"]] == ["output", "publishLog"]
        params = {"jobId": job_id, "index": "0", "owner": raw_request()["owner"]}
        async with session.get(f"{base}/api/v1/operator/getResult", params=params) as resp:
            assert await resp.read() == b"hello"
    assert event_loops(proc) == ["uvloop"]


async def test_no_secret_reaches_a_log_line_of_a_start_up(
    operator_process: Callable[..., subprocess.Popen[bytes]],
) -> None:
    secrets = {
        "POSTGRES_PASSWORD": "pg-password-7c1e",
        "OPERATOR_S3_ACCESS_KEY": "s3-access-2b9d",
        "OPERATOR_S3_SECRET_KEY": "s3-secret-4f0a",
        "X_API_KEY": "ipfs-key-9e3c",
        "CLIENT_ID": "ipfs-client-6a5b",
        "OPERATOR_PRIVATE_KEY": "5c" * 32,
    }
    proc = operator_process(
        **secrets,
        OPERATOR_ENVIRONMENTS="",  # the default environment, keyed by OPERATOR_PRIVATE_KEY
        LOG_LEVEL="debug",
    )
    base = proc.base_url  # type: ignore[attr-defined]
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, base)
        async with session.get(f"{base}/api/v1/operator/environments") as resp:
            (environment,) = await resp.json()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    lines = proc.log_path.read_text().splitlines()  # type: ignore[attr-defined]
    events = [json.loads(line)["event"] for line in lines]
    assert "operator_listening" in events and "operator_stopping" in events
    for name, value in secrets.items():
        leaking = [line for line in lines if value in line]
        assert not leaking, f"{name} appears in the log: {leaking[0]}"
    # The key was used (its address is the environment's), it was simply never shown.
    expected = Account.from_key(secrets["OPERATOR_PRIVATE_KEY"]).address
    assert environment["consumerAddress"].lower() == expected.lower()
