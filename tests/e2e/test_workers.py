"""`serve --workers N`: N real processes on one port, metrics summed over them, one scheduler."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import aiohttp
import psutil
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_process import operator_process, wait_ready
from tests.fakes.kube import FakeKube, fake_kube
from tests.integration.service.test_argo_pipeline import raw_request

__all__ = ["fake_kube", "operator_process"]

NS = "ocean-compute"
WORKERS = 3
JOBS = 24


def children(proc: subprocess.Popen[bytes]) -> dict[int, str]:
    """The serving children of the parent `proc`: pid -> "primary" or "worker"."""
    found = {}
    for child in psutil.Process(proc.pid).children():
        try:
            command = child.cmdline()
        except psutil.Error:  # ended (maybe not reaped yet): not serving
            continue
        if "--child" in command:
            found[child.pid] = command[command.index("--child") + 1]
    return found


def listening_on(pid: int, port: int) -> bool:
    return any(
        conn.status == psutil.CONN_LISTEN and conn.laddr.port == port
        for conn in psutil.Process(pid).net_connections(kind="tcp")
    )


async def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """/metrics on a connection of its own (so any of the processes may answer it)."""
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session,
        session.get(f"{base}/metrics") as resp,
    ):
        text = await resp.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def posts_answered(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "operator_argo_http_requests_total"
        and dict(labels) == {"route": "/api/v1/operator/compute", "method": "POST", "status": "200"}
    )


async def wait_for(check: Callable[[], bool], what: str) -> None:
    for _ in range(400):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_workers_share_one_port_sum_their_metrics_and_schedule_each_job_once(
    operator_process: Callable[..., subprocess.Popen[bytes]], fake_kube: FakeKube, tmp_path: Path
) -> None:
    proc = operator_process(
        "--workers",
        str(WORKERS),
        OPERATOR_ENGINE="argo",
        KUBECONFIG=str(fake_kube.write_kubeconfig(tmp_path / "kubeconfig")),
        OPERATOR_ENVIRONMENTS=json.dumps(
            [{"id": NS, "namespace": NS, "maxJobs": JOBS + 1, "maxJobDuration": 600}]
        ),
    )
    base = proc.base_url  # type: ignore[attr-defined]
    port = int(base.rsplit(":", 1)[1])
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True)  # a new connection, maybe a new process
    ) as session:
        await wait_ready(session, base)
        await wait_for(lambda: len(children(proc)) == WORKERS, "the workers")
        roles = children(proc)
        assert sorted(roles.values()) == ["primary"] + ["worker"] * (WORKERS - 1)
        await wait_for(lambda: all(listening_on(pid, port) for pid in roles), "every listener")

        for index in range(JOBS):
            body = raw_request() | {"agreementId": f"0x{index:032x}"}
            async with session.post(f"{base}/api/v1/operator/compute", json=body) as resp:
                assert resp.status == 200, await resp.text()

        # Whichever process answers, /metrics shows the sum over all of them.
        for _ in range(8):
            assert posts_answered(await scrape(base)) == JOBS
        # One scheduler: every job's workflow created once, by the primary alone.
        await wait_for(lambda: len(fake_kube.workflows) == JOBS, "every workflow")
        creates = [path for method, path in fake_kube.requests if method == "POST"]
        assert len(creates) == JOBS
        submitted = await scrape(base)
        key = (
            "operator_argo_workflow_submissions_total",
            (("environment", NS), ("outcome", "submitted")),
        )
        assert submitted[key] == JOBS

        # A worker that dies is replaced, and what it counted is still in the sums.
        victim = next(pid for pid, role in roles.items() if role == "worker")
        psutil.Process(victim).send_signal(signal.SIGKILL)
        await wait_for(
            lambda: len(children(proc)) == WORKERS and victim not in children(proc),
            "a replacement worker",
        )
        replacement = set(children(proc)) - set(roles)
        await wait_for(lambda: all(listening_on(pid, port) for pid in replacement), "it listens")
        body = raw_request() | {"agreementId": f"0x{JOBS:032x}"}
        async with session.post(f"{base}/api/v1/operator/compute", json=body) as resp:
            assert resp.status == 200, await resp.text()
        assert posts_answered(await scrape(base)) == JOBS + 1
        await wait_for(lambda: len(fake_kube.workflows) == JOBS + 1, "the last workflow")
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert not psutil.pid_exists(victim)
    for pid in roles:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_primary_that_cannot_start_ends_the_parent_with_an_error(
    operator_process: Callable[..., subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    proc = operator_process(
        OPERATOR_ENGINE="argo",
        OPERATOR_WORKERS="2",
        KUBECONFIG=str(tmp_path / "missing-kubeconfig"),
    )
    assert proc.wait(timeout=60) == 1
    log = proc.log_path.read_text()  # type: ignore[attr-defined]
    assert "primary_process_failed" in log
    assert "serving_process_started" not in log  # no worker was started for it
