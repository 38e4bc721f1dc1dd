"""Helpers for the local engine tests: jobs, an observation recorder and job-state replay."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import psutil

from operator_argo.domain.environment import Environment
from operator_argo.domain.job import Job, JobUpdate
from operator_argo.domain.observation import Observation
from operator_argo.domain.progress import decide_update
from operator_argo.domain.status import StopReason
from operator_argo.engines.local.engine import LocalEngine
from tests.kit import factories


def make_job(
    rawcode: str,
    *,
    urls: Sequence[str] = (),
    environment: str = "local-env",
    stopreq: StopReason = StopReason.NONE,
    entrypoint: str = "python $ALGO",
) -> Job:
    """A submitted job running `rawcode`, with one input when `urls` are given."""
    spec = factories.make_spec(rawcode=rawcode, urls=urls, entrypoint=entrypoint)
    return factories.make_job(environment, spec=spec, stopreq=stopreq)


def make_environment(**overrides: object) -> Environment:
    return factories.make_environment("local-env", **overrides)


class Recorder:
    """Runs `engine.watch` and keeps every observation, per job."""

    def __init__(self, engine: LocalEngine) -> None:
        self.engine = engine
        self.seen: list[Observation] = []
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Recorder:
        self._task = asyncio.create_task(self.engine.watch(self._sink))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _sink(self, observation: Observation) -> None:
        async with self._changed:
            self.seen.append(observation)
            self._changed.notify_all()

    def of(self, job_id: str) -> list[Observation]:
        return [obs for obs in self.seen if obs.job_id == job_id]

    async def until(self, job_id: str, predicate: object, timeout: float = 60) -> Observation:
        """The first observation of `job_id` for which `predicate(obs)` holds."""
        assert callable(predicate)

        def match() -> Observation | None:
            return next((o for o in self.of(job_id) if predicate(o)), None)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: match() is not None), timeout)
        found = match()
        assert found is not None
        return found

    async def final(self, job_id: str, timeout: float = 60) -> Observation:
        return await self.until(job_id, lambda o: o.finished or o.deleted, timeout)


def apply(job: Job, update: JobUpdate) -> Job:
    """What the store would make of `job` after `update` (for replaying observations)."""
    return dataclasses.replace(
        job,
        status=update.status,
        stopreq=update.stopreq if update.stopreq is not None else job.stopreq,
        results=update.results if update.results is not None else job.results,
        termination=update.termination or job.termination,
        date_finished=dt.datetime.now(dt.UTC) if update.finished else job.date_finished,
        error=update.error or job.error,
    )


def replay(job: Job, observations: Sequence[Observation]) -> tuple[Job, list[int]]:
    """Feed the observations through decide_update; the end state and the statuses taken."""
    statuses = [int(job.status)]
    for obs in observations:
        update = decide_update(job, obs)
        if update is not None and update.status != job.status:
            statuses.append(int(update.status))
        if update is not None:
            job = apply(job, update)
    return job, statuses


def processes_with(marker: str) -> list[psutil.Process]:
    """Live processes whose command line mentions `marker`."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or ())
        if marker in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""
