"""The real `operator-argo serve` process under rough treatment: clients that hang up mid-body,
and a SIGKILL while it runs the embedded PostgreSQL."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import aiohttp

from tests.e2e.test_process import operator_process, wait_ready

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
