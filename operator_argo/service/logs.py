"""computeLogs: the algorithm's output as it is written, then as it was published, bounded.

A stream follows the engine while the job runs and, once the job has finished, serves the
published `algorithmLog` result instead. Each owner holds at most a few streams at once on a
replica (TooManyRequests beyond), and deleting a job closes every stream of it here.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator

from operator_argo.domain import names
from operator_argo.domain.errors import NotFound, TooManyRequests
from operator_argo.domain.job import Job, JobId
from operator_argo.domain.ports import Engine, JobStore, ResultReader

LOOK_AGAIN = 1.0  # seconds between two looks at a job whose algorithm has nothing to follow yet


class LogStreams:
    """The open streams of this replica: counted per owner, and closed by job on deletion."""

    def __init__(self, per_owner: int) -> None:
        self.per_owner = per_owner
        self._held: collections.Counter[str] = collections.Counter()
        self._closers: dict[JobId, set[asyncio.Event]] = collections.defaultdict(set)

    def held(self, owner: str) -> int:
        return self._held[owner.lower()]

    @contextlib.contextmanager
    def hold(self, owner: str, job_id: JobId) -> Iterator[asyncio.Event]:
        """A slot of `owner`'s, for one stream of `job_id`; the event is set when the job is
        deleted. TooManyRequests when the owner holds as many as it may."""
        key = owner.lower()
        if self._held[key] >= self.per_owner:
            raise TooManyRequests(
                f"at most {self.per_owner} log streams may be open at once for one owner"
            )
        closed = asyncio.Event()
        self._held[key] += 1
        self._closers[job_id].add(closed)
        try:
            yield closed
        finally:
            self._held[key] -= 1
            self._closers[job_id].discard(closed)
            if not self._closers[job_id]:
                del self._closers[job_id]

    def close_job(self, job_id: JobId) -> None:
        """End every open stream of `job_id` (it was deleted)."""
        for closed in self._closers.get(job_id, ()):
            closed.set()


async def until_closed(
    chunks: AsyncGenerator[bytes, None], closed: asyncio.Event
) -> AsyncGenerator[bytes, None]:
    """The chunks of `chunks` until it ends or `closed` is set, whichever comes first."""
    waiter = asyncio.ensure_future(closed.wait())
    step: asyncio.Future[bytes] | None = None
    try:
        while True:
            step = asyncio.ensure_future(anext(chunks))
            await asyncio.wait({step, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                return
            try:
                chunk = step.result()
            except StopAsyncIteration:
                return
            yield chunk
    finally:
        waiter.cancel()
        if step is not None and not step.done():
            # The generator is inside that step: end the step before closing the generator.
            step.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await step
        await chunks.aclose()


class LogFollower:
    """One job's output: followed through the engine while it runs, published once finished."""

    def __init__(
        self,
        store: JobStore,
        engine: Engine | None,
        results: ResultReader | None,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._store = store
        self._engine = engine
        self._results = results
        self._sleep = sleep

    async def follow(self, job: Job) -> AsyncGenerator[bytes, None]:
        """From the first byte to the algorithm's end; nothing more once the job is removed."""
        current: Job | None = job
        while current is not None and not current.removed:
            if current.is_finished:
                async for chunk in self._published(current):
                    yield chunk
                return
            if current.submitted_at is not None and self._engine is not None:
                sent = False
                try:
                    async for chunk in self._engine.follow_log(current):
                        sent = True
                        yield chunk
                    return
                except NotFound:
                    if sent:  # what went is gone: the stream ends rather than repeat itself
                        return
            await self._sleep(LOOK_AGAIN)
            current = await self._store.get_job(job.job_id)

    async def _published(self, job: Job) -> AsyncIterator[bytes]:
        if job.results_deleted_at is not None or self._results is None:
            return
        for file in job.results or ():
            if file.type == names.ALGORITHM_LOG_TYPE:
                async for chunk in self._results.read(file, 0, None):
                    yield chunk
                return
