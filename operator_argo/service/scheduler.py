"""The admission queue: turns queued jobs into submitted workflows, per environment, FIFO.

Every replica runs a scheduler. The store's `claim_next` is atomic across replicas (row locks
plus a per-environment advisory lock), so together they never start more than `maxJobs` jobs of
an environment and never claim one job twice. Submission is idempotent on the engine side (the
workflow name is derived from the job id), so a claim whose submission is repeated after a crash
meets "already exists" and counts as done.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable

import structlog

from operator_argo.config import Settings
from operator_argo.domain.backoff import Backoff
from operator_argo.domain.cancellation import check_cancelled
from operator_argo.domain.environment import Environment
from operator_argo.domain.errors import OperatorError, TransientEngineError, Unavailable
from operator_argo.domain.job import Job, JobUpdate
from operator_argo.domain.ports import Engine, JobStore
from operator_argo.domain.status import JobStatus
from operator_argo.observability import metrics

log = structlog.get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]

SUBMIT_BATCH = 16  # jobs claimed in one transaction and submitted concurrently
PIPELINE_DEPTH = 2  # batches in flight at once: one being claimed or built, one being answered
GAUGE_PERIOD = 15.0  # seconds between refreshes of the queue-depth and jobs-by-status gauges


class Scheduler:
    """Claims queued jobs while their environment has room and submits them to the engine."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        engine: Engine,
        *,
        sleep: Sleep = asyncio.sleep,
        on_submitted: Callable[[Job], None] | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._engine = engine
        self._sleep = sleep
        self._backoff = Backoff(cap=max(settings.scheduler_interval, 60.0))
        self._on_submitted = on_submitted
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look at the queue now (a job was accepted or one finished)."""
        self._wake.set()

    async def run(self) -> None:
        """Run until cancelled."""
        gauges_due = 0.0
        while True:
            check_cancelled()
            delay = self._settings.scheduler_interval
            self._wake.clear()  # before the pass: a wake-up during it is not lost
            try:
                await self.run_once()
                self._backoff.reset()
                if time.monotonic() >= gauges_due:
                    await self.refresh_gauges()
                    gauges_due = time.monotonic() + GAUGE_PERIOD
            except Unavailable as exc:
                # The cluster or the database is out for now: jobs stay queued, the loop backs
                # off (a crash would restart the process and, on the local engine, its jobs).
                delay = self._backoff.next_delay()
                event = "engine_unavailable"
                if not isinstance(exc, TransientEngineError):
                    event = "database_unavailable"
                log.warning(event, error=exc.message, retry_in=delay)
            await self._wait(delay)

    async def _wait(self, delay: float) -> None:
        waiter = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({waiter}, timeout=delay)
        finally:
            waiter.cancel()

    async def resubmit_unrecorded(self) -> int:
        """Submit again the claimed jobs whose workflow was never recorded (the operator stopped
        between claim and record). Submission is idempotent, so a workflow that was created
        meanwhile counts as submitted; an unreachable engine puts the job back in the queue."""
        environments = {env.id: env for env in self._settings.environments}
        pending = [
            job
            for job in await self._store.jobs_to_resume()
            if job.workflow_name is None and job.environment in environments
        ]
        by_environment: dict[str, list[Job]] = {}
        for job in pending:
            by_environment.setdefault(job.environment, []).append(job)
        for env_id, jobs in by_environment.items():
            outcomes = await asyncio.gather(
                *(self._create(job, environments[env_id]) for job in jobs), return_exceptions=True
            )
            created = [
                (job, name)
                for job, name in zip(jobs, outcomes, strict=True)
                if isinstance(name, str)
            ]
            if created:
                await self._record(created, environments[env_id])
        if pending:
            log.info("unrecorded_submissions_retried", count=len(pending))
        return len(pending)

    async def refresh_gauges(self) -> None:
        """Publish queue depth and jobs per status (a snapshot, replaced each time)."""
        by_status, waiting = await self._store.count_unfinished()
        metrics.set_jobs_by_status(by_status)
        for environment in self._settings.environments:
            metrics.set_queue_depth(environment.id, waiting.get(environment.id, 0))

    async def run_once(self) -> int:
        """Submit every job that fits now; returns how many were submitted.

        Raises TransientEngineError (after putting the claimed job back) when the engine is
        unreachable, so the caller backs off instead of failing jobs.
        """
        submitted = 0
        for environment in self._settings.environments:
            submitted += await self._fill(environment)
        return submitted

    async def _fill(self, environment: Environment) -> int:
        """Claim and submit batches until the queue is empty or the environment is full.

        Up to PIPELINE_DEPTH batches are in flight: the next batch is claimed and built while
        the cluster is still answering the previous one, so neither side waits for the other.
        The first engine outage stops further claims; batches already in flight finish (each
        records what it created and puts back what it could not) before the error is raised.
        """
        submitted = 0
        in_flight: set[asyncio.Task[int]] = set()
        failure: BaseException | None = None
        try:
            while failure is None:
                if len(in_flight) >= PIPELINE_DEPTH:
                    done, in_flight = await asyncio.wait(
                        in_flight, return_when=asyncio.FIRST_COMPLETED
                    )
                    for task in done:
                        submitted, failure = _collect(task, submitted, failure)
                    continue
                batch = await self._store.claim_batch(
                    environment.id, environment.max_jobs, SUBMIT_BATCH
                )
                if batch:
                    in_flight.add(asyncio.create_task(self._submit_batch(batch, environment)))
                if len(batch) < SUBMIT_BATCH:
                    break
            if in_flight:
                await asyncio.wait(in_flight)
            for task in in_flight:
                submitted, failure = _collect(task, submitted, failure)
        finally:
            # Reached with batches unfinished only when a claim failed (they finish and record
            # what they created) or this pass was cancelled (they are cancelled too).
            unfinished = [task for task in in_flight if not task.done()]
            if unfinished:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    for task in unfinished:
                        task.cancel()
                await asyncio.gather(*unfinished, return_exceptions=True)
        if failure is not None:
            raise failure  # TransientEngineError: the loop backs off
        return submitted

    async def _submit_batch(self, batch: list[Job], environment: Environment) -> int:
        """Submit one claimed batch concurrently and record what was created in one statement."""
        outcomes = await asyncio.gather(
            *(self._create(job, environment) for job in batch), return_exceptions=True
        )
        created = [
            (job, name) for job, name in zip(batch, outcomes, strict=True) if isinstance(name, str)
        ]
        if created:
            await self._record(created, environment)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return len(created)

    async def _create(self, job: Job, environment: Environment) -> str | None:
        """Create one claimed job's workflow; its name, or None when the engine refused it."""
        try:
            return await self._engine.submit(job, environment)
        except TransientEngineError:
            metrics.record_submission(environment.id, "failed")
            await self._store.release_claim(job.job_id)
            raise
        except OperatorError as exc:
            # The engine refused this job for good: end it rather than retrying forever.
            metrics.record_submission(environment.id, "rejected")
            log.error(
                "workflow_rejected",
                job_id=job.job_id,
                environment=environment.id,
                error=exc.message,
            )
            await self._store.apply_update(
                job.job_id,
                JobUpdate(status=JobStatus.FINISHED, finished=True, results=(), error=exc.message),
            )
            return None

    async def _record(self, created: list[tuple[Job, str]], environment: Environment) -> None:
        """Record a batch's workflows in one statement, then stop the ones stopped meanwhile."""
        current = await self._store.record_submissions([(j.job_id, name) for j, name in created])
        now = dt.datetime.now(dt.UTC)
        for job, name in created:
            metrics.record_submission(environment.id, "submitted")
            waited = (now - job.date_created).total_seconds()
            metrics.observe_queue_wait(environment.id, max(0.0, waited))
            log.info("job_submitted", job_id=job.job_id, workflow=name, environment=environment.id)
            if self._on_submitted is not None:
                self._on_submitted(job)
        # A stop that arrived between the claim and the submission found no workflow to stop.
        for job in current:
            if job.stopreq and not job.is_finished:
                await self._engine.stop(job)


def _collect(
    task: asyncio.Task[int], submitted: int, failure: BaseException | None
) -> tuple[int, BaseException | None]:
    """Add a finished batch's count, or keep its error when it is the first one."""
    error = task.exception()
    if error is None:
        return submitted + task.result(), failure
    return submitted, failure or error
