"""A database outage: a real PostgreSQL stopped under the running operator and started again.

While it is down, database routes answer 503 with Retry-After within about the configured
database timeout, /readyz answers 503 at once and /healthz stays 200; the first request after
it is back succeeds."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from operator_argo.config import Settings
from operator_argo.domain.environment import Environment
from operator_argo.store.embedded import EmbeddedServer, ensure_database, start_server, stop_server
from tests.kit.scratch import scratch_dir
from tests.operatorkit import API, running_operator

OWNER = "0x" + "0d" * 20
DB_TIMEOUT = 1.0
# Bounds a request during the outage must answer within: the configured timeout and then some
# for a loaded machine; the pool's own default made each one wait about 30 s.
ANSWER_WITHIN = 8.0


@pytest.fixture
def pgdata() -> Iterator[Path]:
    with scratch_dir("outage") as root:
        yield root / "pgdata"


@pytest.fixture
def server(pgdata: Path) -> Iterator[list[EmbeddedServer]]:
    """This test's own PostgreSQL (the session's is shared); the list holds the current one."""
    running = [start_server(pgdata)]
    try:
        yield running
    finally:
        stop_server(running[-1])


async def timed(
    client: TestClient, method: str, path: str, **kwargs: Any
) -> tuple[int, Any, float]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await client.request(
        method, path, timeout=aiohttp.ClientTimeout(total=ANSWER_WITHIN * 4), **kwargs
    )
    body = await response.json()
    return response.status, (response.headers.get("Retry-After"), body), loop.time() - started


async def test_an_outage_is_fast_503s_and_the_first_request_after_it_succeeds(
    server: list[EmbeddedServer], pgdata: Path, tmp_path: Path
) -> None:
    ensure_database(server[0], "operator")
    settings = Settings(
        postgres_host=str(server[0].socket_dir),
        postgres_port=server[0].port,
        postgres_db="operator",
        pool_min_size=2,
        pool_max_size=4,
        db_timeout=DB_TIMEOUT,
        data_dir=tmp_path / "data",
        results_dir=tmp_path / "data" / "results",
        scheduler_interval=0.2,
        janitor_interval=3600.0,
        environments=(Environment(id="ocean-compute", namespace="ocean-compute"),),
    )
    status = ("GET", f"{API}/compute", {"params": {"owner": OWNER}})
    async with running_operator(settings) as (_, client):
        assert (await timed(client, *status[:2], **status[2]))[0] == 200
        await asyncio.to_thread(stop_server, server[0])

        slowest = 0.0
        for _ in range(3):
            for method, path, kwargs in (
                status,
                ("PUT", f"{API}/compute", {"params": {"owner": OWNER}}),
                ("GET", f"{API}/environments", {}),
                ("GET", "/readyz", {}),
            ):
                code, (retry_after, body), seconds = await timed(client, method, path, **kwargs)
                assert code == 503, (method, path, body)
                assert retry_after is not None and int(retry_after) >= 1
                assert set(body) == {"error"}
                assert seconds < ANSWER_WITHIN, (method, path, seconds)
                slowest = max(slowest, seconds)
        print(f"slowest answer while the database was down: {slowest:.3f} s")
        code, _, seconds = await timed(client, "GET", "/healthz")
        assert code == 200 and seconds < ANSWER_WITHIN

        server.append(await asyncio.to_thread(start_server, pgdata))
        code, (_, body), _ = await timed(client, *status[:2], **status[2])
        assert code == 200, body
        assert (await timed(client, "GET", "/readyz"))[0] == 200
