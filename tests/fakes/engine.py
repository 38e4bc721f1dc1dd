"""A recording engine: implements the Engine port in memory, for scheduler and reconciler tests."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from operator_argo.domain.environment import Environment
from operator_argo.domain.errors import NotFound, OperatorError
from operator_argo.domain.job import Job
from operator_argo.domain.names import workflow_name
from operator_argo.domain.ports import ObservationSink, Takeover


@dataclasses.dataclass
class RecordingEngine:
    """Keeps the workflows it was asked to create; can be told to fail the next submissions.

    Its take-over policy is Argo's: a claim without a recorded workflow is submitted again.
    """

    submitted: list[str] = dataclasses.field(default_factory=list)
    stopped: list[str] = dataclasses.field(default_factory=list)
    deleted: list[str] = dataclasses.field(default_factory=list)
    released: list[str] = dataclasses.field(default_factory=list)
    fail_with: OperatorError | None = None
    fail_times: int = 0
    on_submit: Callable[[Job], Awaitable[None]] | None = None
    closed: bool = False
    image_ids: dict[str, str] = dataclasses.field(default_factory=dict)  # by job id

    async def submit(self, job: Job, environment: Environment) -> str:
        if self.fail_times > 0 and self.fail_with is not None:
            self.fail_times -= 1
            raise self.fail_with
        if self.on_submit is not None:
            await self.on_submit(job)
        self.submitted.append(job.job_id)
        return workflow_name(job.job_id)

    async def stop(self, job: Job) -> None:
        self.stopped.append(job.job_id)

    async def delete(self, job: Job) -> None:
        self.deleted.append(job.job_id)

    async def release(self, job: Job) -> None:
        self.released.append(job.job_id)

    async def ran_image(self, job: Job) -> str | None:
        return self.image_ids.get(job.job_id)

    async def follow_log(self, job: Job) -> AsyncIterator[bytes]:
        raise NotFound("a recording engine runs nothing")
        yield b""  # an async generator, like the real engines' (never reached)

    async def watch(self, sink: ObservationSink) -> None:
        await asyncio.Event().wait()

    async def resume(self, jobs: Sequence[tuple[Job, Environment]]) -> Takeover:
        submitted: dict[str, str] = {}
        refused: dict[str, str] = {}
        for job, environment in jobs:
            if job.workflow_name is not None:
                continue
            try:
                submitted[job.job_id] = await self.submit(job, environment)
            except OperatorError as exc:
                if exc.retryable:
                    raise
                refused[job.job_id] = exc.message
        return Takeover(submitted=submitted, refused=refused)

    async def close(self) -> None:
        self.closed = True
