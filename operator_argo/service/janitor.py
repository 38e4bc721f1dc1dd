"""The janitor: deletes expired results, ends jobs that outlived every deadline and forgets
nonces too old to be accepted again."""

from __future__ import annotations

import structlog

from operator_argo.config import Settings
from operator_argo.domain.backoff import Backoff
from operator_argo.domain.clock import SYSTEM_CLOCK, Clock
from operator_argo.domain.deadlines import overdue_cutoff, workflow_deadline
from operator_argo.domain.environment import Environment
from operator_argo.domain.errors import OperatorError
from operator_argo.domain.job import JobUpdate
from operator_argo.domain.ports import Engine, JobStore, ResultReader
from operator_argo.domain.status import JobStatus
from operator_argo.service.periodic import run_periodically

log = structlog.get_logger(__name__)


class Janitor:
    """Periodic housekeeping that works only from the database, so it survives restarts."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        engine: Engine,
        results: ResultReader,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._settings = settings
        self._store = store
        self._engine = engine
        self._results = results
        self._clock = clock
        self._backoff = Backoff(cap=max(settings.janitor_interval, 60.0))

    async def run(self) -> None:
        """Run until cancelled; a retryable failure (the database is out) backs off, any
        other ends the loop (a bug: the process stops)."""

        async def one_pass() -> bool:
            await self.run_once()
            return False

        await run_periodically(
            one_pass,
            interval=self._settings.janitor_interval,
            backoff=self._backoff,
            clock=self._clock,
            failure_event="janitor_pass_failed",
        )

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
            self._clock.now(), self._settings.storage_expiry, expiries
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

    def _deadline(self, environment: Environment) -> int:
        """The deadline a workflow of `environment` gets (the longest algorithm deadline:
        validUntil only shortens it)."""
        return workflow_deadline(
            self._settings.configure_timeout,
            environment.max_job_duration,
            self._settings.publish_timeout,
            environment.filter.timeout if environment.filter else 0,
        )

    async def end_overdue_jobs(self) -> int:
        """End submitted jobs whose workflow should long have finished (domain.deadlines' rule):
        nothing stays stuck. Only started jobs are read, never the queue."""
        now = self._clock.now()
        cutoffs = {
            env.id: overdue_cutoff(self._deadline(env), now) for env in self._settings.environments
        }
        ended = 0
        for job in await self._store.overdue_jobs(cutoffs):
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
