"""LocalEngine.follow_log: a running algorithm's output, line by line, before it has finished."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable

import pytest

from operator_argo.domain.errors import NotFound
from operator_argo.domain.job import Job
from operator_argo.engines.local.engine import LocalEngine
from tests.integration.local.localkit import Recorder, make_environment, make_job

# Prints a line, then waits for the test to drop a file named `go<n>` beside the outputs.
GATED = """
import os, time
root = os.path.dirname(os.environ["OUTPUTS"])
for n in (1, 2):
    print("line", n, flush=True)
    while not os.path.exists(os.path.join(root, f"go{n}")):
        time.sleep(0.02)
print("done", flush=True)
"""


async def _next(stream: AsyncIterator[bytes], buffer: bytearray) -> bytes:
    """The next whole line of `stream` (chunks need not end on one)."""
    async with asyncio.timeout(30):
        while b"\n" not in buffer:
            buffer += await anext(stream)
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line + b"\n"


@dataclasses.dataclass
class Following:
    """A gated job whose first line was read from its followed log."""

    engine: LocalEngine
    job: Job
    recorder: Recorder
    stream: AsyncIterator[bytes]
    buffer: bytearray = dataclasses.field(default_factory=bytearray)

    async def line(self) -> bytes:
        return await _next(self.stream, self.buffer)


@contextlib.asynccontextmanager
async def following(engine: LocalEngine) -> AsyncIterator[Following]:
    job = make_job(GATED)
    async with Recorder(engine) as recorder:
        await engine.submit(job, make_environment())
        await recorder.until(job.job_id, lambda o: "algorithm" in o.steps)
        run = Following(engine=engine, job=job, recorder=recorder, stream=engine.follow_log(job))
        assert await run.line() == b"line 1\n"  # the algorithm waits for go1 here
        yield run
        await recorder.final(job.job_id)


async def test_follows_a_running_algorithm_line_by_line(
    make_engine: Callable[..., LocalEngine],
) -> None:
    engine = make_engine()
    async with following(engine) as run:
        gate = engine.layout(run.job.job_id).data
        (gate / "go1").touch()
        assert await run.line() == b"line 2\n"
        (gate / "go2").touch()
        assert await run.line() == b"done\n"
        async with asyncio.timeout(30):
            rest = b"".join([chunk async for chunk in run.stream])
        assert rest == b"" and run.buffer == b""
    published = engine.layout(run.job.job_id).data / "logs" / "algorithm.log"
    assert published.read_bytes() == b"line 1\nline 2\ndone\n"  # each line once


async def test_the_log_ends_when_the_job_is_deleted(
    make_engine: Callable[..., LocalEngine],
) -> None:
    engine = make_engine()
    async with following(engine) as run:
        await engine.delete(run.job)
        async with asyncio.timeout(30):
            [chunk async for chunk in run.stream]  # ends, whatever came last


async def test_a_job_that_does_not_run_here_is_not_found(
    make_engine: Callable[..., LocalEngine],
) -> None:
    with pytest.raises(NotFound):
        await anext(make_engine().follow_log(make_job("print(1)")))
