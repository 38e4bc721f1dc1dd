"""The real `operator-argo serve` process under rough treatment: clients that hang up mid-body,
and a SIGKILL while it runs the embedded PostgreSQL."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import psutil
import pytest

from tests.e2e.test_process import operator_process, wait_ready
from tests.kit.scratch import postmaster_pid, scratch_dir

__all__ = ["operator_process"]

HALF_A_BODY = (
    b"POST /api/v1/operator/compute HTTP/1.1\r\nHost: operator\r\n"
    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    b'{"workflow": {"stages": ['
)


def hang_up_mid_body(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(HALF_A_BODY)


def log_text(proc: subprocess.Popen[bytes]) -> str:
    return Path(proc.log_path).read_text()  # type: ignore[attr-defined]


async def test_clients_that_hang_up_mid_body_are_one_info_line_each_and_no_traceback(
    operator_process: Callable[..., subprocess.Popen[bytes]],
) -> None:
    proc = operator_process(LOG_FORMAT="console")  # the default format, rich installed
    base = proc.base_url  # type: ignore[attr-defined]
    port = int(base.rsplit(":", 1)[1])
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, base)
        for _ in range(20):
            await asyncio.to_thread(hang_up_mid_body, port)
        for _ in range(200):
            if log_text(proc).count("client_disconnected") >= 20:
                break
            await asyncio.sleep(0.05)
        async with session.get(f"{base}/healthz") as resp:
            assert resp.status == 200
    lines = log_text(proc).splitlines()
    disconnects = [line for line in lines if "client_disconnected" in line]
    assert len(disconnects) == 20
    assert all("[info" in line for line in disconnects)
    assert not [line for line in lines if "[error" in line or "Traceback" in line]


@pytest.fixture
def embedded_data_dir() -> Iterator[Path]:
    """A data directory for an embedded PostgreSQL, outside pytest's numbered temp dirs (which
    concurrent sessions prune); a server the test leaves behind is stopped by its PID."""
    with scratch_dir("serve") as root:
        data_dir = root / "data"
        try:
            yield data_dir
        finally:
            if (data_dir / "postgres" / "postmaster.pid").exists():
                pid = postmaster_pid(data_dir)
                if psutil.pid_exists(pid):
                    psutil.Process(pid).kill()


def stopped(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_after_a_sigkill_serve_adopts_the_embedded_postgres_and_a_clean_stop_stops_it(
    operator_process: Callable[..., subprocess.Popen[bytes]], embedded_data_dir: Path
) -> None:
    embedded = {"POSTGRES_HOST": "", "OPERATOR_DATA_DIR": str(embedded_data_dir)}
    first = operator_process(**embedded)
    base = first.base_url  # type: ignore[attr-defined]
    async with aiohttp.ClientSession() as session:
        await wait_ready(session, base)
        postgres = postmaster_pid(embedded_data_dir)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert not stopped(postgres)  # the server outlives the operator that was killed

        second = operator_process(**embedded)
        await wait_ready(session, base)
        assert postmaster_pid(embedded_data_dir) == postgres  # adopted, not started twice
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
    for _ in range(100):
        if stopped(postgres):
            break
        await asyncio.sleep(0.1)
    assert stopped(postgres), "the clean stop left the embedded PostgreSQL running"
    assert "embedded_postgres_adopted" in log_text(second)
