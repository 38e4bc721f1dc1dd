"""The admission queue: turns queued jobs into submitted workflows, per environment, FIFO.

Every replica runs a scheduler. The store's `claim_batch` is atomic across replicas (row locks
plus a per-environment advisory lock), so together they never start more than `maxJobs` jobs of
an environment and never claim one job twice. Submission is idempotent on the engine side (the
workflow name is derived from the job id), so a claim whose submission is repeated after a crash
meets "already exists" and counts as done.

Retry rule: an error the engine or the store marks `retryable` (unreachable, or the cluster
refuses the operator itself: RBAC, a missing namespace) leaves the job queued and makes the loop
back off; any other error from the engine is a refusal of that one job's workflow and ends it.
"""

from __future__ import annotations

import asyncio

import structlog

from operator_argo.config import Settings
from operator_argo.domain.backoff import Backoff
from operator_argo.domain.cancellation import check_cancelled
from operator_argo.domain.clock import SYSTEM_CLOCK, Clock, sleep_or_wake
from operator_argo.domain.environment import Environment
from operator_argo.domain.errors import EngineMisconfigured, OperatorError, TransientEngineError
from operator_argo.domain.job import Job, JobUpdate
from operator_argo.domain.ports import Engine, JobStore
from operator_argo.domain.status import JobStatus
from operator_argo.observability import metrics

log = structlog.get_logger(__name__)

SUBMIT_BATCH = 16  # jobs claimed in one transaction and submitted concurrently
PIPELINE_DEPTH = 2  # batches in flight at once: one being claimed or built, one being answered
GAUGE_PERIOD = 15.0  # seconds between refreshes of the queue-depth and jobs-by-status gauges


def _retry_event(exc: OperatorError) -> str:
    """The log event of a retryable failure: what is out, for the operator reading the log."""
    if isinstance(exc, EngineMisconfigured):
        return "engine_misconfigured"
    if isinstance(exc, TransientEngineError):
        return "engine_unavailable"
    return "database_unavailable"


class Scheduler:
    """Claims queued jobs while their environment has room and submits them to the engine."""

    def __init__(
        self, settings: Settings, store: JobStore, engine: Engine, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._settings = settings
        self._store = store
        self._engine = engine
        self._clock = clock
        self._backoff = Backoff(cap=max(settings.scheduler_interval, 60.0))
        self._wake = asyncio.Event()
        self._taken_over = False

    def wake(self) -> None:
        """Look at the queue now (a job was accepted or one finished)."""
        self._wake.set()

    async def run(self) -> None:
        """Take over what a previous process left in flight, then admit jobs, until cancelled.

        A retryable error (module docstring) makes the loop back off; any other is a bug and
        ends the loop, which stops the process.
        """
        gauges_due = 0.0
        while True:
            check_cancelled()
            delay = self._settings.scheduler_interval
            self._wake.clear()  # before the pass: a wake-up during it is not lost
            try:
                if not self._taken_over:
                    await self.take_over()
                    self._taken_over = True
                await self.run_once()
                self._backoff.reset()
                if self._clock.monotonic() >= gauges_due:
                    await self.refresh_gauges()
                    gauges_due = self._clock.monotonic() + GAUGE_PERIOD
            except OperatorError as exc:
                if not exc.retryable:
                    raise
                # Jobs stay queued and the loop backs off (a crash would restart the process
                # and, on the local engine, every running job with it).
                delay = self._backoff.next_delay()
                if isinstance(exc, EngineMisconfigured):
                    log.error(_retry_event(exc), error=exc.message, retry_in=delay)
                else:
                    log.warning(_retry_event(exc), error=exc.message, retry_in=delay)
            await sleep_or_wake(self._clock, delay, self._wake)

    async def take_over(self) -> None:
        """Hand the claimed, unfinished jobs a previous operator process left to the engine.

        Each engine has its own policy (Engine.resume); what it created again is recorded like
        any submission, and a job it cannot run again, or whose environment is no longer
        configured, ends with the reason. Raises the engine's retryable error: call again.
        """
        jobs = await self._store.jobs_to_resume()
        if not jobs:
            return
        environments = {env.id: env for env in self._settings.environments}
        known = [
            (job, environments[job.environment]) for job in jobs if job.environment in environments
        ]
        takeover = await self._engine.resume(known)
        by_id: dict[str, Job] = {job.job_id: job for job in jobs}
        for job in jobs:
            if job.environment not in environments:
                reason = f"environment {job.environment!r} is no longer configured"
                await self._end(job, reason)
        for job_id, reason in takeover.refused.items():
            await self._end(by_id[job_id], reason)
        unrecorded = [
            (job_id, name)
            for job_id, name in takeover.submitted.items()
            if by_id[job_id].workflow_name is None
        ]
        if unrecorded:
            await self._stop_stopped(await self._store.record_submissions(unrecorded))
        log.info(
            "jobs_taken_over",
            count=len(jobs),
            resubmitted=len(unrecorded),
            ended=len(jobs) - len(known) + len(takeover.refused),
        )

    async def _end(self, job: Job, reason: str) -> None:
        """End a job the engine cannot run (again), then remove what its workflow left."""
        log.error("job_not_resumed", job_id=job.job_id, environment=job.environment, reason=reason)
        update = JobUpdate(status=JobStatus.FINISHED, finished=True, results=(), error=reason)
        if await self._store.apply_update(job.job_id, update) is None:
            return
        try:
            await self._engine.delete(job)
        except OperatorError as exc:
            log.warning("workflow_gc_failed", job_id=job.job_id, error=exc.message)

    async def refresh_gauges(self) -> None:
        """Publish queue depth and jobs per status (a snapshot, replaced each time)."""
        by_status, waiting = await self._store.count_unfinished()
        metrics.set_jobs_by_status(by_status)
        for environment in self._settings.environments:
            metrics.set_queue_depth(environment.id, waiting.get(environment.id, 0))

    async def run_once(self) -> int:
        """Submit every job that fits now; returns how many were submitted.

        Raises the engine's retryable error (after putting the claimed jobs back) when it cannot
        submit for now, so the caller backs off instead of failing jobs.
        """
        submitted = 0
        for environment in self._settings.environments:
            submitted += await self._fill(environment)
        return submitted

    async def _fill(self, environment: Environment) -> int:
        """Claim and submit batches until the queue is empty or the environment is full.

        Up to PIPELINE_DEPTH batches are in flight: the next batch is claimed and built while
        the cluster is still answering the previous one, so neither side waits for the other.
        The first retryable failure stops further claims; batches already in flight finish (each
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
            raise failure  # retryable: the loop backs off
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
        except OperatorError as exc:
            if exc.retryable:
                refused = isinstance(exc, EngineMisconfigured)
                metrics.record_submission(environment.id, "refused" if refused else "failed")
                await self._store.release_claim(job.job_id)
                raise
            # The engine refused this job's workflow for good: end it rather than retry forever.
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
        now = self._clock.now()
        for job, name in created:
            metrics.record_submission(environment.id, "submitted")
            waited = (now - job.date_created).total_seconds()
            metrics.observe_queue_wait(environment.id, max(0.0, waited))
            log.info("job_submitted", job_id=job.job_id, workflow=name, environment=environment.id)
        await self._stop_stopped(current)

    async def _stop_stopped(self, current: list[Job]) -> None:
        """Stop the just-recorded jobs whose stop arrived between their claim and submission
        (it found no workflow to stop then)."""
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
