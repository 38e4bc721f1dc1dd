"""A cancellation lost inside a library call (Python 3.11's wait_for can return normally when
the cancel lands as the awaited call completes) still stops every background loop."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from operator_argo.config import Settings
from operator_argo.domain.cancellation import check_cancelled
from operator_argo.domain.environment import Environment
from operator_argo.domain.names import workflow_name
from operator_argo.domain.observation import Observation, Phase
from operator_argo.engines.argo.builder import build_workflow
from operator_argo.engines.local.engine import LocalEngine
from operator_argo.service.janitor import Janitor
from operator_argo.service.scheduler import Scheduler
from tests.fakes.engine import RecordingEngine

SETTINGS = Settings(
    environments=(Environment(id="env", namespace="env", max_job_duration=60),),
    scheduler_interval=0.05,
    janitor_interval=0.05,
)


async def swallow_cancellation(result: Any, wait: float) -> Any:
    """Take up to `wait` seconds, and return `result` even if cancelled meanwhile."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(wait)
    return result


class SwallowingStore:
    """A store whose first call lasts until the loop is cancelled and loses that cancellation;
    later calls answer at once."""

    def __init__(self) -> None:
        self.calls = 0

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        async def call(*args: object, **kwargs: object) -> Any:
            self.calls += 1
            results = {"claim_batch": [], "count_unfinished": ({}, {}), "prune_nonces": 0}
            return await swallow_cancellation(results.get(name, []), 3600 if self.calls == 1 else 0)

        return call


async def stops_when_cancelled(loop: Awaitable[None], started: Callable[[], bool]) -> None:
    task = asyncio.ensure_future(loop)
    for _ in range(200):
        if started():
            break
        await asyncio.sleep(0.01)
    assert started(), "the loop never reached its first call"
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert task in done, "the loop kept running after it was cancelled"
    with pytest.raises(asyncio.CancelledError):
        task.result()


def test_check_cancelled_raises_only_while_a_cancellation_is_requested() -> None:
    async def main() -> list[str]:
        seen = []
        check_cancelled()  # nothing requested: no error
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            seen.append("delivered")  # ...and swallowed, as a library might
        try:
            check_cancelled()
        except asyncio.CancelledError:
            seen.append("still requested")
        task.uncancel()
        check_cancelled()
        return seen

    assert asyncio.run(main()) == ["delivered", "still requested"]


async def test_the_scheduler_loop_stops() -> None:
    store = SwallowingStore()
    scheduler = Scheduler(SETTINGS, store, RecordingEngine())  # type: ignore[arg-type]
    await stops_when_cancelled(scheduler.run(), lambda: store.calls > 0)


async def test_the_janitor_loop_stops(tmp_path: Path) -> None:
    store = SwallowingStore()
    janitor = Janitor(SETTINGS, store, RecordingEngine(), None)  # type: ignore[arg-type]
    await stops_when_cancelled(janitor.run(), lambda: store.calls > 0)


async def test_the_local_engine_loop_stops(tmp_path: Path) -> None:
    engine = LocalEngine(Settings(data_dir=tmp_path), build=build_workflow, key_for=lambda _: None)
    reached: list[Observation] = []

    async def sink(observation: Observation) -> None:
        reached.append(observation)
        await swallow_cancellation(None, 3600)

    engine._emit(
        Observation(
            job_id="a" * 32,
            workflow_name=workflow_name("a" * 32),
            phase=Phase.RUNNING,
            steps={},
            started_at=dt.datetime.now(dt.UTC),
        )
    )
    try:
        await stops_when_cancelled(engine.watch(sink), lambda: bool(reached))
    finally:
        await engine.close()
