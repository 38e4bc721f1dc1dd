"""Ports: the interfaces the service layer needs from adapters (store, engine, storage, signer)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Protocol

from operator_argo.domain.environment import Environment
from operator_argo.domain.job import Job, JobFilter, JobUpdate, NewJob, ResultFile
from operator_argo.domain.observation import Observation


class JobStore(Protocol):
    """Persistence of jobs, their status history and provider nonces."""

    async def insert_job(self, job: NewJob) -> Job:
        """Store a queued job; raises Conflict when an unfinished job has its agreementId."""

    async def find_jobs(self, flt: JobFilter) -> list[Job]:
        """Jobs matching every set field of `flt`, oldest first."""

    async def get_job(self, job_id: str) -> Job | None: ...

    async def running_jobs(self) -> list[Job]:
        """Jobs that are neither finished nor removed, oldest first."""

    async def jobs_to_resume(self) -> list[Job]:
        """Claimed, unfinished jobs (removed or not), oldest first."""

    async def count_active(self) -> dict[str, int]:
        """Started, unfinished jobs per environment id."""

    async def count_unfinished(self) -> tuple[dict[tuple[str, int], int], dict[str, int]]:
        """Unfinished jobs per (environment, status), and waiting (unclaimed) jobs per
        environment."""

    async def request_stop(self, flt: JobFilter) -> list[Job]:
        """Set stopreq=1 on matching unfinished jobs. Queued jobs that the scheduler has not
        claimed (submitted_at is NULL) are finished at once: status 70, dateFinished, results [].
        Claimed ones keep their status; the caller asks the engine to stop them.

        Returns every matching job (finished or not) as it is after the change, oldest first.
        """

    async def mark_removed(self, job_id: str) -> Job | None: ...

    async def claim_next(self, environment: str, max_jobs: int) -> Job | None:
        """Atomically take the oldest queued job of `environment` that nobody claimed yet
        (submitted_at NULL, stopreq 0), if fewer than `max_jobs` of that environment are claimed
        and unfinished; set its submitted_at so it counts as started from then on. Safe for
        several schedulers on one database (FOR UPDATE SKIP LOCKED plus a per-environment
        advisory transaction lock so two claimers cannot both see room for one more)."""

    async def claim_batch(self, environment: str, max_jobs: int, limit: int) -> list[Job]:
        """Like `claim_next`, for up to `limit` jobs at once (oldest first)."""

    async def record_submission(self, job_id: str, workflow_name: str) -> Job | None:
        """Record the workflow name of a claimed job; returns the job as it is now."""

    async def record_submissions(self, submitted: Sequence[tuple[str, str]]) -> list[Job]:
        """`record_submission` for many (job id, workflow name) pairs in one statement."""

    async def release_claim(self, job_id: str) -> None:
        """Put a claimed job back in the queue (submission failed transiently): submitted_at
        and workflow_name back to NULL, if the job is still status 1."""

    async def apply_update(self, job_id: str, update: JobUpdate) -> Job | None:
        """Apply `update` if the transition is allowed; returns the job after, or None if not
        applied. Writes a status-history row in the same transaction."""

    async def status_history(self, job_id: str) -> list[tuple[int, dt.datetime]]: ...

    async def expired_results(
        self, now: dt.datetime, default_expiry: int, expiries: Mapping[str, int] | None = None
    ) -> list[Job]:
        """Finished jobs with results not deleted yet that are removed, or older than their expiry
        in seconds: `expiries[environment]` when non-zero, else `default_expiry`; 0 = forever."""

    async def mark_results_deleted(self, job_id: str) -> None: ...

    async def claim_nonce(self, signer: str, nonce: int) -> bool:
        """Record (signer, nonce); False if it was seen before or is far below the highest."""

    async def prune_nonces(self) -> int:
        """Forget the nonces that are far enough below their signer's highest to be refused
        anyway; how many. Nothing is forgotten when no window is configured."""


class ObservationSink(Protocol):
    async def __call__(self, observation: Observation) -> None: ...


class Engine(Protocol):
    """Runs a job's workflow somewhere (Argo on Kubernetes, or this machine) and reports on it."""

    async def submit(self, job: Job, environment: Environment) -> str:
        """Create the job's workflow; idempotent (an existing workflow counts as submitted).
        Returns the workflow name. Raises TransientEngineError when the engine is unreachable."""

    async def stop(self, job: Job) -> None:
        """Ask the workflow to stop; the exit handler (publish) still runs."""

    async def delete(self, job: Job) -> None:
        """Remove the workflow and what it left behind; missing is fine."""

    async def run(self, sink: Callable[[Observation], Awaitable[None]]) -> None:
        """Report observations of every managed workflow until cancelled."""


class ResultReader(Protocol):
    """Read access to published results, for getResult and expiry."""

    async def size(self, result: ResultFile) -> int: ...

    def read(
        self, result: ResultFile, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream bytes [start, end) of the file in chunks."""

    async def delete_job(self, job_id: str, results: Sequence[ResultFile]) -> None: ...
