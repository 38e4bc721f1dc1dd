"""The runtime's lifetime: what open_runtime opens it closes in reverse, also after a failed
start-up; a background loop that returns is a crash, and serve then exits 1."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import structlog

from operator_argo import app
from operator_argo.config import Settings
from operator_argo.domain.errors import ConfigurationError
from operator_argo.service.janitor import Janitor
from tests.fakes.engine import RecordingEngine


class RecordingReader:
    """A result reader that only records being closed."""

    def __init__(self, closed: list[str]) -> None:
        self._closed = closed

    async def close(self) -> None:
        self._closed.append("results")


@pytest.fixture
def closed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The order in which the runtime's engine and result reader were closed."""
    order: list[str] = []

    class Engine(RecordingEngine):
        async def close(self) -> None:
            order.append("engine")

    async def make_engine(settings: Settings, environ: object) -> Engine:
        return Engine()

    monkeypatch.setattr(app, "_make_engine", make_engine)
    monkeypatch.setattr(app, "open_result_reader", lambda settings: RecordingReader(order))
    return order


async def test_the_runtime_closes_what_it_opened_in_reverse(
    settings_factory: Callable[..., Settings], closed: list[str]
) -> None:
    async with app.open_runtime(settings_factory()) as runtime:
        await runtime.ping()
        assert closed == []
    assert closed == ["results", "engine"]


async def test_a_failed_start_up_still_closes_the_engine(
    settings_factory: Callable[..., Settings], closed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_storage(settings: Settings) -> Any:
        raise ConfigurationError("IPFS_URL is required when OPERATOR_STORAGE=ipfs")

    monkeypatch.setattr(app, "open_result_reader", broken_storage)
    with pytest.raises(ConfigurationError):
        async with app.open_runtime(settings_factory()):
            pass
    assert closed == ["engine"]


async def test_serve_exits_1_when_a_background_loop_returns(
    settings_factory: Callable[..., Settings], closed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def returns(self: Janitor) -> None:
        return None  # a loop that ends without an error is a crash too

    monkeypatch.setattr(Janitor, "run", returns)
    monkeypatch.setattr(app, "configure_logging", lambda settings: None)  # the suite's own
    settings = settings_factory(port=0)
    async with asyncio.timeout(30):
        assert await app.serve(settings) == 1
    assert closed == ["results", "engine"]


async def test_a_crashed_loop_sets_the_crash_flag_and_is_logged(
    settings_factory: Callable[..., Settings], closed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def raises(self: Janitor) -> None:
        raise RuntimeError("a bug in the janitor")

    monkeypatch.setattr(Janitor, "run", raises)
    crashed = asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        async with (
            app.open_runtime(settings_factory()) as runtime,
            app.background(runtime, crashed),
            asyncio.timeout(10),
        ):
            await crashed.wait()
    (crash,) = [e for e in logs if e["event"] == "background_task_crashed"]
    assert crash["task"] == "janitor" and crash["log_level"] == "error"
