"""A recording engine: implements the Engine port in memory, for scheduler and reconciler tests."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

from operator_argo.domain.environment import Environment
from operator_argo.domain.errors import OperatorError
from operator_argo.domain.job import Job
from operator_argo.domain.observation import Observation


@dataclasses.dataclass
class RecordingEngine:
    """Keeps the workflows it was asked to create; can be told to fail the next submissions."""

    submitted: list[str] = dataclasses.field(default_factory=list)
    stopped: list[str] = dataclasses.field(default_factory=list)
    deleted: list[str] = dataclasses.field(default_factory=list)
    fail_with: OperatorError | None = None
    fail_times: int = 0
    on_submit: Callable[[Job], Awaitable[None]] | None = None

    async def submit(self, job: Job, environment: Environment) -> str:
        if self.fail_times > 0 and self.fail_with is not None:
            self.fail_times -= 1
            raise self.fail_with
        if self.on_submit is not None:
            await self.on_submit(job)
        self.submitted.append(job.job_id)
        return f"c2d-{job.job_id}"

    async def stop(self, job: Job) -> None:
        self.stopped.append(job.job_id)

    async def delete(self, job: Job) -> None:
        self.deleted.append(job.job_id)

    async def run(self, sink: Callable[[Observation], Awaitable[None]]) -> None:
        await asyncio.Event().wait()
