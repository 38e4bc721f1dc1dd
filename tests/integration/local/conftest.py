"""Fixtures for the local engine tests: settings under tmp, engines, and a data server."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from operator_argo.config import Settings
from operator_argo.engines.argo.builder import build_workflow
from operator_argo.engines.local.engine import LocalEngine

DATASET = b"3\n4\n5\n"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        results_dir=tmp_path / "results",
        configure_timeout=60,
        publish_timeout=60,
    )


@pytest.fixture
def bwrap() -> str:
    """The sandbox is part of what these tests check: bubblewrap must be installed."""
    path = shutil.which("bwrap")
    assert path is not None, "bubblewrap (bwrap) is required: apt-get install -y bubblewrap"
    return path


@pytest.fixture
async def make_engine(settings: Settings) -> AsyncIterator[Callable[..., LocalEngine]]:
    """`make_engine(sandbox=True, **kwargs)`; every engine made is closed after the test."""
    engines: list[LocalEngine] = []

    def make(*, sandbox: bool = True, **kwargs: object) -> LocalEngine:
        bwrap = shutil.which("bwrap") if sandbox else None
        kwargs.setdefault("kill_grace", 1.0)
        kwargs.setdefault("build", build_workflow)
        engine = LocalEngine(settings, key_for=lambda env: None, bwrap=bwrap, **kwargs)  # type: ignore[arg-type]
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.close()


@pytest.fixture
async def data_server() -> AsyncIterator[TestServer]:
    """Serves /dataset.csv (DATASET) on 127.0.0.1; anything else is 404."""

    async def dataset(_: web.Request) -> web.Response:
        return web.Response(body=DATASET, content_type="text/csv")

    app = web.Application()
    app.router.add_get("/dataset.csv", dataset)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()
