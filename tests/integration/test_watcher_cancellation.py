"""A cancellation that the HTTP client turned into a timeout still stops the watcher."""

from __future__ import annotations

import asyncio

import pytest

from operator_argo.domain.errors import TransientEngineError
from operator_argo.engines.argo.watcher import WorkflowWatcher


async def _nothing(_: object) -> None:
    return None


async def test_back_off_does_not_swallow_a_cancellation_the_client_converted() -> None:
    watcher = WorkflowWatcher(None, "ns", _nothing)  # type: ignore[arg-type]

    async def watch_once() -> None:
        try:
            await asyncio.sleep(3600)  # the watch request, cancelled on shutdown
        except asyncio.CancelledError:
            # What an HTTP client may do with a cancel that lands in its timeout handling.
            raise TransientEngineError("Kubernetes API unreachable: TimeoutError()") from None

    async def loop_like_the_watcher() -> None:
        while True:
            try:
                await watch_once()
            except TransientEngineError as exc:
                await watcher._back_off("watcher_watch_failed", exc)

    task = asyncio.create_task(loop_like_the_watcher())
    await asyncio.sleep(0.01)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert task in done, "the watcher loop kept running after it was cancelled"
    with pytest.raises(asyncio.CancelledError):
        task.result()
