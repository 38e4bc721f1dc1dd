"""The reconciler: applies engine observations to jobs, then garbage-collects finished workflows."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import structlog

from operator_argo.domain.errors import OperatorError
from operator_argo.domain.job import Job, JobUpdate
from operator_argo.domain.observation import Observation
from operator_argo.domain.ports import Engine, JobStore, Receipts, ResultReader
from operator_argo.domain.progress import decide_update
from operator_argo.observability import metrics

log = structlog.get_logger(__name__)


class Reconciler:
    """Maps each observation to the job's next state through the allowed transitions.

    Once the algorithm has ended, its termination details gain the image it ran by digest, as
    the engine reports it while the algorithm's pod still exists (Engine.ran_image). A final
    update gains the job's signed receipt as its last result before it is stored
    (service/receipts.py), when the reconciler is given a receipt maker.

    Duplicate, late and out-of-order observations are no-ops: `decide_update` returns nothing
    for them and the store re-checks the transition under a row lock. The workflow is released
    to the engine's clean-up (deleted, or kept for a while and then removed by the engine) only
    after the final state is stored (persist, then GC), so a crash in between leaves a finished
    workflow that the next observation of it releases. A released workflow's observations,
    its removal included, find the job finished and change nothing.
    """

    def __init__(
        self,
        store: JobStore,
        engine: Engine,
        results: ResultReader | None = None,
        *,
        on_finished: Callable[[], None] | None = None,
        receipts: Receipts | None = None,
    ) -> None:
        self._store = store
        self._receipts = receipts
        self._engine = engine
        self._results = results
        self._on_finished = on_finished

    async def observe(self, observation: Observation) -> None:
        """The engine's sink: apply one observation, timing event-to-database latency."""
        started = time.perf_counter()
        await self.apply(observation)
        metrics.observe_reconcile_lag(time.perf_counter() - started)

    async def apply(self, observation: Observation) -> Job | None:
        """Apply one observation; returns the job after the change, or None if nothing changed."""
        job = await self._store.get_job(observation.job_id)
        if job is None:
            log.warning(
                "observation_for_unknown_job",
                job_id=observation.job_id,
                workflow=observation.workflow_name,
            )
            return None
        if job.is_finished:
            await self._collect(job, observation)
            return None
        update = decide_update(job, observation)
        if update is None:
            return None
        update = await self._with_ran_image(job, update)
        if update.finished and not observation.deleted and self._receipts is not None:
            update = await self._receipts.attach(job, update, observation)
        after = await self._store.apply_update(job.job_id, update)
        if after is None:
            return None
        log.info(
            "job_status_changed",
            job_id=job.job_id,
            workflow=observation.workflow_name,
            environment=job.environment,
            status=int(after.status),
            previous=int(job.status),
            error=after.error if after.is_finished else None,
        )
        if after.is_finished:
            metrics.record_job_finished(after.environment, int(after.status))
            if self._on_finished is not None:
                self._on_finished()  # its environment has room for the next queued job
            if after.removed:
                await self._delete_results(after)
            await self._collect(after, observation)
        return after

    async def _with_ran_image(self, job: Job, update: JobUpdate) -> JobUpdate:
        """`update` with the image the algorithm ran: the one stored with an earlier update
        (its pod may be gone by the final one), else the engine's answer now."""
        termination = update.termination
        if termination is None or termination.image_id is not None:
            return update
        image = job.termination.image_id if job.termination is not None else None
        if image is None:
            try:
                image = await self._engine.ran_image(job)
            except OperatorError as exc:  # a fact for the receipt: never holds the job back
                log.info("ran_image_unknown", job_id=job.job_id, error=exc.message)
        if image is None:
            return update
        return dataclasses.replace(
            update, termination=dataclasses.replace(termination, image_id=image)
        )

    async def _delete_results(self, job: Job) -> None:
        """A job deleted while it ran has just published: its results go at once (the janitor
        retries if this fails)."""
        if self._results is None or not job.results:
            return
        try:
            await self._results.delete_job(job.job_id, job.results)
        except OperatorError as exc:
            log.warning("results_delete_failed", job_id=job.job_id, error=exc.message)
            return
        await self._store.mark_results_deleted(job.job_id)

    async def _collect(self, job: Job, observation: Observation) -> None:
        """Release a finished job's workflow to the engine's clean-up; that of a job deleted
        (DELETE /compute) goes at once, since its owner asked for it to be gone."""
        if observation.deleted or (observation.released and not job.removed):
            return  # gone already, or its clean-up is under way (a TTL, say)
        try:
            await (self._engine.delete(job) if job.removed else self._engine.release(job))
        except OperatorError as exc:
            log.warning(
                "workflow_gc_failed",
                job_id=job.job_id,
                workflow=observation.workflow_name,
                error=exc.message,
            )
