"""The janitor: deletes expired results, ends jobs that outlived every deadline and forgets
nonces too old to be accepted again."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

import structlog

from operator_argo.config import Settings
from operator_argo.domain.cancellation import check_cancelled
from operator_argo.domain.errors import OperatorError
from operator_argo.domain.job import Job, JobUpdate
from operator_argo.domain.ports import Engine, JobStore, ResultReader
from operator_argo.domain.status import JobStatus

log = structlog.get_logger(__name__)

# Time allowed beyond the sum of the step deadlines before a job is declared lost.
OVERDUE_GRACE = dt.timedelta(minutes=10)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Janitor:
    """Periodic housekeeping that works only from the database, so it survives restarts."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        engine: Engine,
        results: ResultReader,
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self._settings = settings
        self._store = store
        self._engine = engine
        self._results = results
        self._clock = clock

    async def run(self) -> None:
        """Run until cancelled."""
        while True:
            check_cancelled()
            try:
                await self.run_once()
            except OperatorError as exc:
                log.warning("janitor_pass_failed", error=exc.message)
            await asyncio.sleep(self._settings.janitor_interval)

    async def run_once(self) -> tuple[int, int, int]:
        """One pass; returns (jobs whose results were deleted, overdue jobs ended, nonces
        forgotten)."""
        return await self.expire_results(), await self.end_overdue_jobs(), await self.prune_nonces()

    async def prune_nonces(self) -> int:
        pruned = await self._store.prune_nonces()
        if pruned:
            log.info("nonces_pruned", count=pruned)
        return pruned

    async def expire_results(self) -> int:
        expiries = {env.id: env.storage_expiry for env in self._settings.environments}
        expired = await self._store.expired_results(
            self._clock(), self._settings.storage_expiry, expiries
        )
        for job in expired:
            try:
                await self._results.delete_job(job.job_id, job.results or ())
            except OperatorError as exc:
                log.warning("results_expiry_failed", job_id=job.job_id, error=exc.message)
                continue
            await self._store.mark_results_deleted(job.job_id)
            log.info("results_expired", job_id=job.job_id, environment=job.environment)
        return len(expired)

    def _deadline(self, job: Job) -> dt.datetime | None:
        environment = self._settings.environment(job.environment)
        if job.submitted_at is None or environment is None:
            return None
        budget = (
            self._settings.configure_timeout
            + environment.max_job_duration
            + self._settings.publish_timeout
        )
        return job.submitted_at + dt.timedelta(seconds=budget) + OVERDUE_GRACE

    async def end_overdue_jobs(self) -> int:
        """End submitted jobs whose workflow should long have finished: nothing stays stuck."""
        now = self._clock()
        ended = 0
        for job in await self._store.running_jobs():
            deadline = self._deadline(job)
            if deadline is None or now < deadline:
                continue
            update = JobUpdate(
                status=JobStatus.FINISHED,
                finished=True,
                results=job.results or (),
                error="the job's workflow did not finish within its deadlines",
            )
            if await self._store.apply_update(job.job_id, update) is None:
                continue
            ended += 1
            log.error(
                "job_overdue",
                job_id=job.job_id,
                workflow=job.workflow_name,
                environment=job.environment,
            )
            try:
                await self._engine.delete(job)
            except OperatorError as exc:
                log.warning("workflow_gc_failed", job_id=job.job_id, error=exc.message)
        return ended
