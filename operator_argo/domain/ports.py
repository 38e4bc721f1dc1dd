"""Ports: the interfaces the service layer needs from adapters (stores, engine, storage, HTTP)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from operator_argo.domain.caller import NonceClaim
from operator_argo.domain.environment import Environment
from operator_argo.domain.job import Job, JobFilter, JobUpdate, NewJob, ResultFile
from operator_argo.domain.notice import Notice
from operator_argo.domain.observation import Observation


class JobStore(Protocol):
    """Persistence of jobs, their status history and provider nonces."""

    async def insert_job(self, job: NewJob, *, claim: NonceClaim | None = None) -> Job:
        """Store a queued job; raises Conflict when an unfinished job has its agreementId.

        With a `claim`, the nonce is claimed in the same statement (methods taking `claim` all
        do; a stop, in the same transaction): atomically, durably, once; a refused claim raises
        NonceRejected and stores nothing, a Conflict leaves the nonce unclaimed."""

    async def find_jobs(self, flt: JobFilter, *, claim: NonceClaim | None = None) -> list[Job]:
        """Jobs matching every set field of `flt`, oldest first."""

    async def get_job(self, job_id: str, *, claim: NonceClaim | None = None) -> Job | None: ...

    def running_listing(
        self, namespaces: Mapping[str, str], *, limit: int | None = None, offset: int = 0
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[str]]:
        """The running-job objects (CONTRACT section 3) of the jobs neither finished nor removed,
        oldest first, `limit` of them (None: all) after the first `offset`, as JSON text: chunks
        of objects joined by commas. `namespaces` maps environment ids to their namespaces.
        Entering runs the query (its failure is raised there); the chunks are read as they are
        consumed, so memory does not grow with the number of jobs."""

    async def jobs_to_resume(self) -> list[Job]:
        """Claimed, unfinished jobs (removed or not), oldest first."""

    async def count_active(self) -> dict[str, int]:
        """Started, unfinished jobs per environment id."""

    async def overdue_jobs(self, cutoffs: Mapping[str, dt.datetime]) -> list[Job]:
        """Started, unfinished jobs (removed or not) of each environment in `cutoffs` that were
        submitted at or before its cutoff, oldest first; reads no queued job."""

    async def count_unfinished(self) -> tuple[dict[tuple[str, int], int], dict[str, int]]:
        """Unfinished jobs per (environment, status), and waiting (unclaimed) jobs per
        environment."""

    async def request_stop(self, flt: JobFilter, *, claim: NonceClaim | None = None) -> list[Job]:
        """Set stopreq=1 on matching unfinished jobs. Queued jobs that the scheduler has not
        claimed (submitted_at is NULL) are finished at once: status 70, dateFinished, results [].
        Claimed ones keep their status; the caller asks the engine to stop them.

        Returns every matching job (finished or not) as it is after the change, oldest first.
        """

    async def mark_removed(self, job_id: str) -> Job | None: ...

    async def claim_batch(self, environment: str, max_jobs: int, limit: int) -> list[Job]:
        """Atomically take the oldest queued jobs of `environment` (up to `limit`) that nobody
        claimed yet (submitted_at NULL, stopreq 0), as many as fit under `max_jobs` claimed and
        unfinished ones; set their submitted_at so they count as started from then on. Safe for
        several schedulers on one database (FOR UPDATE SKIP LOCKED plus a per-environment
        advisory transaction lock so two claimers cannot both see room for one more)."""

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

    async def spend_nonce(self, claim: NonceClaim) -> None:
        """Claim the nonce alone (a call with no statement of its own to carry it);
        NonceRejected when refused."""

    async def prune_nonces(self) -> int:
        """Forget the nonces that are far enough below their signer's highest to be refused
        anyway; how many. Nothing is forgotten when no window is configured."""


class CallerCheck(Protocol):
    """Whether a call is signed by an allowed provider (its nonce is the store's to claim)."""

    def identify(
        self, message_parts: Sequence[str], signature: object, nonce: int | None
    ) -> NonceClaim | None:
        """The nonce the caller spends, or None when signatures are not required;
        InvalidSignature (400) or Unauthorized (401) when the call is refused."""


class NoticeStore(Protocol):
    """The notice outbox: due notices for delivery, and how each attempt went."""

    async def claim_due_notices(
        self, now: dt.datetime, limit: int, lease_seconds: float
    ) -> list[Notice]:
        """Up to `limit` undelivered notices due at `now`, oldest first, each counted as one
        more attempt and kept from other replicas for `lease_seconds`."""

    async def notice_delivered(self, notice: Notice, now: dt.datetime) -> None: ...

    async def notice_retry(self, notice: Notice, at: dt.datetime, error: str) -> None:
        """The attempt failed: try again at `at`."""

    async def notice_given_up(self, notice: Notice, now: dt.datetime, error: str) -> None:
        """No more attempts (expired, or nowhere to deliver it)."""


class NoticeSender(Protocol):
    """Delivers a notice's body to a receiver over HTTP."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """POST `body`; returns when the receiver answered 2xx, raises a retryable error
        (Unavailable) for any other answer, a timeout or no answer."""

    async def close(self) -> None: ...


class NoticeSigner(Protocol):
    """Signs notice bodies with the key of the environment whose job they report on."""

    def sign(self, environment: str, body: bytes) -> str:
        """The 0x-prefixed 65-byte EIP-191 signature of keccak256(body) by the environment's
        key."""


ObservationSink = Callable[[Observation], Awaitable[None]]
"""Where an engine reports what it observed (the reconciler). It raises a retryable error when
the observation could not be stored now: the engine offers it (or a newer state) again."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Takeover:
    """What an engine did with the jobs a previous operator process left in flight."""

    submitted: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """job id -> name of the workflow the engine created (again): the caller records it."""
    refused: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """job id -> why the engine cannot run the job again: the caller ends the job."""


class Engine(Protocol):
    """Runs jobs' workflows somewhere (Argo on Kubernetes, or this machine) and reports on them.

    Errors: every method raises `OperatorError`s only, and the caller decides on `retryable`:
    a retryable error (the engine is unreachable or refuses the operator) leaves the job as it
    is, to be tried again; any other ends the job (submit) or is logged (stop, delete).
    """

    async def submit(self, job: Job, environment: Environment) -> str:
        """Create the job's workflow; idempotent (an existing workflow counts as submitted).
        Returns the workflow name."""

    async def stop(self, job: Job) -> None:
        """Ask the workflow to stop; the exit handler (publish) still runs. Missing is fine."""

    async def delete(self, job: Job) -> None:
        """Remove the workflow and what it left behind; missing is fine."""

    async def release(self, job: Job) -> None:
        """The job's final state is stored: remove its workflow now, or hand it to the engine's
        own clean-up after the configured retention (Argo: its ttlStrategy). The workflow's
        later observations say `released`. Missing is fine."""

    async def watch(self, sink: ObservationSink) -> None:
        """Report observations of every managed workflow to `sink` until cancelled."""

    async def ran_image(self, job: Job) -> str | None:
        """The image the algorithm's container ran, by digest as the node's runtime reports it
        (a job's receipt states it), or None when the engine cannot say (no image; gone)."""

    def follow_log(self, job: Job) -> AsyncIterator[bytes]:
        """The algorithm's output from its first byte, as it is written, ending when the
        algorithm has ended. NotFound when there is none to follow here (the algorithm has not
        started in this engine, or what it left is gone)."""

    async def resume(self, jobs: Sequence[tuple[Job, Environment]]) -> Takeover:
        """Take over the claimed, unfinished jobs a previous operator process left behind, by
        this engine's own policy (Argo: submit again what was never recorded; local: run them
        again). Raises a retryable error when the engine cannot be reached: the caller backs
        off and calls again with the jobs still in flight."""

    async def close(self) -> None:
        """Release what the engine holds (connections, child processes); called once, last."""


class ResultReader(Protocol):
    """Read access to published results, for getResult and expiry."""

    async def size(self, result: ResultFile) -> int: ...

    def read(
        self, result: ResultFile, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream bytes [start, end) of the file in chunks."""

    async def delete_job(self, job_id: str, results: Sequence[ResultFile]) -> None: ...

    async def close(self) -> None:
        """Release connections (an HTTP session of the IPFS backend, say)."""


class ResultWriter(Protocol):
    """Storing one more result of a job (the operator's own: a receipt)."""

    async def put_file(self, key: str, path: Path) -> str:
        """Store the file at `path` under `key`; returns the key to record."""


class Receipts(Protocol):
    """Makes and stores a finishing job's signed receipt (domain/receipt.py)."""

    async def attach(self, job: Job, update: JobUpdate, observation: Observation) -> JobUpdate:
        """`update` with the stored receipt as its last result; unchanged when none could be
        made (never an error: a receipt never holds a job back)."""
