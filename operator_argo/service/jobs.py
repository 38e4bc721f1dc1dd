"""Job use-cases behind the HTTP API: start, status, stop, delete, results and environments.

Each takes a parsed request (wire/shapes.py) and does the whole use-case, the caller's signature
included (its nonce claimed by the store with the call's own statement), so a handler only
parses, calls one of these and renders the answer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import structlog

from operator_argo.config import Settings
from operator_argo.domain.caller import NonceClaim
from operator_argo.domain.clock import SYSTEM_CLOCK, Clock
from operator_argo.domain.errors import (
    Conflict,
    NonceRejected,
    NotFound,
    OperatorError,
    Unavailable,
)
from operator_argo.domain.job import Address, Job, JobFilter, JobId, NewJob, ResultFile
from operator_argo.domain.messages import AGREEMENT_IN_USE, no_such_index
from operator_argo.domain.ports import CallerCheck, Engine, JobStore, ResultReader
from operator_argo.service.environments import (
    EnvironmentState,
    environment_states,
    find_environment,
)
from operator_argo.service.logs import LogFollower, LogStreams, until_closed
from operator_argo.wire.preflight import check_environment, check_valid_until
from operator_argo.wire.shapes import (
    FilterRequest,
    LogRequest,
    Page,
    ResultRequest,
    Signed,
    StartRequest,
)
from operator_argo.wire.stage import parse_workflow

log = structlog.get_logger(__name__)


def _uuid_hex() -> JobId:
    return JobId(uuid.uuid4().hex)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResultDownload:
    """One result file of a job, ready to be streamed."""

    file: ResultFile
    size: int
    reader: ResultReader

    def read(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes [start, end) of the file, in chunks."""
        return self.reader.read(self.file, start, end)


class JobService:
    """The use-cases of the public API, over the store, the engine and the result storage."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        engine: Engine | None,
        results: ResultReader | None,
        *,
        auth: CallerCheck,
        clock: Clock = SYSTEM_CLOCK,
        new_job_id: Callable[[], JobId] = _uuid_hex,
        on_accepted: Callable[[], None] | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._engine = engine
        self._results = results
        self._auth = auth
        self._clock = clock
        self._new_job_id = new_job_id
        self._on_accepted = on_accepted
        self.log_streams = LogStreams(settings.log_streams_per_owner)
        self._logs = LogFollower(store, engine, results, clock.sleep)

    def _identify(self, signed: Signed) -> NonceClaim | None:
        """The caller's nonce claim (the store claims it with the call's own statement)."""
        return self._auth.identify(signed.parts, signed.signature, signed.nonce)

    async def start(self, request: StartRequest) -> Job:
        """Queue a job (status 1), refusing in the contract's order: the environment accepts the
        chain, no unfinished job has the agreementId, the signature and nonce, the stage (its
        preflight rules included: wire/preflight.py).

        A call that passes costs one statement (claim, insert, history: its unique index is the
        agreementId guard); only a refused one looks the agreement up, so that an agreement in
        use still wins over a bad signature, nonce or stage."""
        environment = find_environment(
            self._settings.environments, request.environment, request.chain_id
        )
        try:
            claim = self._identify(request.signed)
        except OperatorError:
            await self._check_agreement_free(request.agreement_id)
            raise
        try:
            spec = parse_workflow(request.workflow)
            check_environment(spec, environment)
            check_valid_until(request.valid_until, self._clock.now().timestamp())
        except OperatorError:
            await self._check_agreement_free(request.agreement_id)
            if claim is not None:
                await self._store.spend_nonce(claim)  # the nonce is spent, as it is on success
            raise
        new = NewJob(
            job_id=self._new_job_id(),
            owner=Address(request.owner),
            agreement_id=request.agreement_id,
            environment=request.environment,
            spec=spec,
            chain_id=request.chain_id,
            provider_address=request.provider_address,
            valid_until=request.valid_until,
        )
        try:
            job = await self._store.insert_job(new, claim=claim)
        except NonceRejected:
            await self._check_agreement_free(request.agreement_id)
            raise
        log.info("job_created", job_id=job.job_id, environment=job.environment, owner=job.owner)
        if self._on_accepted is not None:
            self._on_accepted()  # the scheduler looks at the queue now instead of at its next tick
        return job

    async def _check_agreement_free(self, agreement_id: str) -> None:
        """Conflict when an unfinished job has the agreementId."""
        jobs = await self._store.find_jobs(JobFilter(agreement_id=agreement_id))
        if any(not job.is_finished for job in jobs):
            raise Conflict(AGREEMENT_IN_USE)

    async def status(self, request: FilterRequest) -> list[Job]:
        """Jobs matching every set field of the filter, oldest first."""
        claim = self._identify(request.signed)
        return await self._store.find_jobs(request.flt, claim=claim)

    async def stop(self, request: FilterRequest) -> list[Job]:
        """Request a stop of the matching jobs."""
        claim = self._identify(request.signed)
        return await self._stop(request.flt, claim)

    async def _stop(self, flt: JobFilter, claim: NonceClaim | None = None) -> list[Job]:
        """Queued jobs finish at once, claimed ones are asked to stop through the engine (its
        failure is logged: the request stays recorded)."""
        jobs = await self._store.request_stop(flt, claim=claim)
        for job in jobs:
            if job.is_finished or job.submitted_at is None:
                continue
            await self._stop_workflow(job)
        return jobs

    async def _stop_workflow(self, job: Job) -> None:
        if self._engine is None:
            log.warning("job_stop_without_engine", job_id=job.job_id)
            return
        try:
            await self._engine.stop(job)
        except OperatorError as exc:  # the stop stays recorded either way
            log.warning(
                "job_stop_engine_failed",
                job_id=job.job_id,
                error=exc.message,
                retryable=exc.retryable,
            )
        else:
            log.info("job_stop_requested", job_id=job.job_id)

    async def delete(self, request: FilterRequest) -> list[Job]:
        """Stop the matching jobs if needed, delete their results, mark them removed. A
        finished job's workflow, kept for a while to be seen, goes too (a running one's goes
        once its end is stored: the reconciler sees it removed)."""
        claim = self._identify(request.signed)
        flt = request.flt
        jobs = await self._store.find_jobs(flt, claim=claim)
        if any(not job.is_finished for job in jobs):
            await self._stop(flt)
        removed = []
        for job in jobs:
            await self._delete_results(job)
            after = await self._store.mark_removed(job.job_id)
            removed.append(after or job)
            self.log_streams.close_job(job.job_id)
            if job.is_finished and not job.removed and job.workflow_name is not None:
                await self._delete_workflow(job)
            log.info("job_removed", job_id=job.job_id)
        return removed

    async def _delete_workflow(self, job: Job) -> None:
        if self._engine is None:
            return
        try:
            await self._engine.delete(job)
        except OperatorError as exc:  # the engine's own clean-up removes it later
            log.warning("workflow_delete_failed", job_id=job.job_id, error=exc.message)

    async def _delete_results(self, job: Job) -> None:
        if not job.results or job.results_deleted_at is not None:
            return
        if self._results is None:
            log.warning("job_results_kept_without_storage", job_id=job.job_id)
            return
        try:
            await self._results.delete_job(job.job_id, job.results)
        except OperatorError as exc:  # the janitor retries: keep the job's removal
            log.warning("job_results_delete_failed", job_id=job.job_id, error=exc.message)
            return
        await self._store.mark_results_deleted(job.job_id)

    def running_jobs(self, page: Page) -> AbstractAsyncContextManager[AsyncIterator[str]]:
        """The objects of the jobs neither finished nor removed, oldest first, as JSON text in
        chunks (JobStore.running_listing)."""
        namespaces = {env.id: env.namespace for env in self._settings.environments}
        return self._store.running_listing(namespaces, limit=page.limit, offset=page.offset)

    async def _owned_job(self, job_id: str, owner: str, claim: NonceClaim | None) -> Job:
        """The job, if `owner` owns it, read with the caller's nonce claim."""
        job = await self._store.get_job(job_id, claim=claim)
        if job is None or job.owner.lower() != owner.lower():
            raise NotFound("No such job")
        return job

    async def result(self, request: ResultRequest) -> ResultDownload:
        """Result file number `index` of a job the caller owns."""
        claim = self._identify(request.signed)
        index = request.index
        job = await self._owned_job(request.job_id, request.owner, claim)
        if job.results_deleted_at is not None:
            raise NotFound("The results of this compute job were deleted")
        if job.results is None or not 0 <= index < len(job.results):
            raise NotFound(no_such_index(index))
        if self._results is None:
            raise Unavailable("Result storage is not configured")
        file = job.results[index]
        size = await self._results.size(file)
        return ResultDownload(file=file, size=size, reader=self._results)

    @contextlib.asynccontextmanager
    async def logs(self, request: LogRequest) -> AsyncIterator[AsyncIterator[bytes]]:
        """The algorithm's output of a job the caller owns, followed while it runs (LogFollower),
        within the owner's limit of open streams; ended early when the job is deleted."""
        claim = self._identify(request.signed)
        job = await self._owned_job(request.job_id, request.owner, claim)
        with self.log_streams.hold(job.owner, job.job_id) as closed:
            chunks = until_closed(self._logs.follow(job), closed)
            try:
                yield chunks
            finally:
                await chunks.aclose()

    async def environments(self, chain_id: int | None) -> list[EnvironmentState]:
        """The environments accepting `chain_id`, with their current job counts."""
        active = await self._store.count_active()
        return environment_states(self._settings.environments, active, chain_id, self._clock.now())

    def now(self) -> dt.datetime:
        return self._clock.now()
