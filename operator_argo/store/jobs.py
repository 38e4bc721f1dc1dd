"""Job store: every SQL statement about jobs and their status history (domain.ports.JobStore)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, cast

import psycopg
import structlog
from psycopg import sql
from psycopg.rows import tuple_row

from operator_argo.domain.caller import NonceClaim
from operator_argo.domain.errors import Conflict, InvalidRequest, NonceRejected, Unavailable
from operator_argo.domain.job import Job, JobFilter, JobUpdate, NewJob
from operator_argo.domain.messages import AGREEMENT_IN_USE, FILTER_REQUIRED
from operator_argo.domain.notice import NoticeKind
from operator_argo.domain.status import FINAL_STATUSES, JobStatus, StopReason, can_transition
from operator_argo.store import nonces
from operator_argo.store.database import Connection, Database
from operator_argo.store.rows import job_from_row, new_job_params, update_params

log = structlog.get_logger(__name__)

# Status codes enter SQL as literals rendered from JobStatus, so the planner can match the
# partial indexes of migration 0001 (`status NOT IN (31, 32, 70)`, `status = 1`).
_UNFINISHED = sql.SQL("status NOT IN ({})").format(
    sql.SQL(", ").join(sql.Literal(int(s)) for s in sorted(FINAL_STATUSES))
)
_UNCLAIMED = sql.SQL("(status = {} AND submitted_at IS NULL)").format(
    sql.Literal(int(JobStatus.QUEUED))
)
_OLDEST_FIRST = sql.SQL("ORDER BY date_created, seq")
# A job's columns with its status history beside them, in the same statement (a correlated
# subquery on the history's (job_id, id) index): a status call stays one round trip.
HISTORY_COLUMN = (
    "(SELECT json_agg(json_build_object('status', h.status, 'at', h.at) ORDER BY h.id) "
    "FROM job_status_history h WHERE h.job_id = jobs.job_id) AS history"
)
_WITH_HISTORY = sql.SQL("SELECT jobs.*, {} FROM jobs").format(sql.SQL(HISTORY_COLUMN))
# The history of a job just inserted (`job`, NULL when no row was): its first entry only.
_NEW_HISTORY = (
    "CASE WHEN job.job_id IS NULL THEN NULL ELSE json_build_array("
    "json_build_object('status', job.status, 'at', job.date_created)) END AS history"
)

ONE_ACTIVE_PER_AGREEMENT = "jobs_one_unfinished_per_agreement"  # unique index of migration 0001
NONCE_PRUNE_BATCH = 10_000  # nonces deleted per statement by prune_nonces

# First key of the per-environment advisory lock taken while claiming (the second is a hash of
# the environment id), so two schedulers cannot both see room for one more job.
_CLAIM_LOCK_CLASS = 0x6F61_636C

# One statement inserts the job and its first history row: atomic without a transaction block,
# and one round trip instead of four (BEGIN, two INSERTs, COMMIT) on the POST /compute path.
_INSERT = (
    sql.SQL("""
WITH job AS (
    INSERT INTO jobs (job_id, owner, agreement_id, environment, status, spec, chain_id,
                      provider_address, valid_until)
    VALUES (%(job_id)s, %(owner)s, %(agreement_id)s, %(environment)s, %(status)s, %(spec)s,
            %(chain_id)s, %(provider_address)s, %(valid_until)s)
    RETURNING *
), history AS (
    INSERT INTO job_status_history (job_id, status, detail)
    SELECT job_id, status, NULL FROM job
)
SELECT job.*, {history} FROM job
""")
    .format(history=sql.SQL(_NEW_HISTORY))
    .as_string()
)
# A signed POST /compute: the nonce claim, the job and its history row in one statement; the job
# is inserted only when the claim was accepted (the parameters are cast: an INSERT ... SELECT
# does not take its types from the columns). A unique violation undoes the claim too.
_INSERT_CLAIMED = (
    sql.SQL("""
WITH {cte}, job AS (
    INSERT INTO jobs (job_id, owner, agreement_id, environment, status, spec, chain_id,
                      provider_address, valid_until)
    SELECT %(job_id)s::text, %(owner)s::text, %(agreement_id)s::text, %(environment)s::text,
           %(status)s::smallint, %(spec)s::jsonb, %(chain_id)s::bigint,
           %(provider_address)s::text, %(valid_until)s::bigint
    WHERE EXISTS (SELECT FROM claimed)
    RETURNING *
), history AS (
    INSERT INTO job_status_history (job_id, status, detail)
    SELECT job_id, status, NULL FROM job
)
SELECT c.n AS {column}, job.*, {history}
FROM (SELECT count(*) AS n FROM claimed) AS c LEFT JOIN job ON TRUE
""")
    .format(
        cte=sql.SQL(nonces.CLAIMED_CTE),
        column=sql.Identifier(nonces.CLAIMED_COLUMN),
        history=sql.SQL(_NEW_HISTORY),
    )
    .as_string()
)
_HISTORY = "INSERT INTO job_status_history (job_id, status, detail) VALUES (%s, %s, %s)"
_GET = "SELECT * FROM jobs WHERE job_id = %s"
# GET /runningjobs: PostgreSQL renders each running job's object (the fields api/docs.py's
# RunningJobSchema documents) from the members stored with the job (`listing_fields`, migration
# 0004) and its status and namespace, and joins them in chunks of LISTING_CHUNK objects: a
# listing of thousands of jobs costs no spec read and no Python object per job (bench/README.md,
# "Running jobs"). Texts come from JobStatus; namespaces from the settings (an environment no
# longer configured shows its id); a test holds the objects equal to the domain's.
_STATUS_TEXT = sql.SQL("CASE status {} END").format(
    sql.SQL(" ").join(
        sql.SQL("WHEN {} THEN {}").format(
            sql.Literal(int(code)), sql.Literal(json.dumps(code.text))
        )
        for code in JobStatus
    )
)
_RUNNING = (
    sql.SQL("""
SELECT string_agg(object, ',' ORDER BY position) AS chunk FROM (
    SELECT '{{' || listing_fields || ',"status":' || status || ',"statusText":' || {status_text}
           || ',"namespace":' || to_json(COALESCE(places.namespace, jobs.environment))::text
           || '}}' AS object,
           row_number() OVER ({oldest_first}) AS position
    FROM jobs
    LEFT JOIN unnest(%(envs)s::text[], %(namespaces)s::text[]) AS places(environment, namespace)
        ON places.environment = jobs.environment
    WHERE {unfinished} AND NOT removed
    {oldest_first} LIMIT %(limit)s OFFSET %(offset)s
) AS listed
GROUP BY (position - 1) / %(chunk)s ORDER BY (position - 1) / %(chunk)s
""")
    .format(status_text=_STATUS_TEXT, unfinished=_UNFINISHED, oldest_first=_OLDEST_FIRST)
    .as_string()
)
LISTING_CHUNK = 500  # objects per chunk of a streamed listing
_TO_RESUME = sql.SQL("SELECT * FROM jobs WHERE {} AND submitted_at IS NOT NULL {}").format(
    _UNFINISHED, _OLDEST_FIRST
)
# Started, unfinished jobs: the partial index jobs_started (migration 0003) holds exactly these, so
# these reads never visit a queued job.
_STARTED = sql.SQL("{} AND submitted_at IS NOT NULL").format(_UNFINISHED)
_COUNT_ACTIVE = sql.SQL(
    "SELECT environment, count(*) AS n FROM jobs WHERE {} GROUP BY environment"
).format(_STARTED)
_OVERDUE = sql.SQL("""
SELECT jobs.* FROM unnest(%(envs)s::text[], %(cutoffs)s::timestamptz[]) AS c(environment, cutoff)
JOIN jobs ON jobs.environment = c.environment AND jobs.submitted_at <= c.cutoff
WHERE {started} {oldest_first}
""").format(started=_STARTED, oldest_first=_OLDEST_FIRST)
_COUNT_UNFINISHED = sql.SQL(
    "SELECT environment, status, (submitted_at IS NULL) AS waiting, count(*) AS n FROM jobs "
    "WHERE {} GROUP BY environment, status, waiting"
).format(_UNFINISHED)
_STOP = sql.SQL("""
UPDATE jobs SET
    stopreq = CASE WHEN stopreq = {none} THEN {requested} ELSE stopreq END,
    status = CASE WHEN {unclaimed} THEN {finished} ELSE status END,
    date_finished = CASE WHEN {unclaimed} THEN now() ELSE date_finished END,
    results = CASE WHEN {unclaimed} THEN '[]'::jsonb ELSE results END
WHERE {where} AND {unfinished}
RETURNING job_id, status, environment
""")
_STOP_ARGS = {
    "none": sql.Literal(int(StopReason.NONE)),
    "requested": sql.Literal(int(StopReason.REQUESTED)),
    "unclaimed": _UNCLAIMED,
    "finished": sql.Literal(int(JobStatus.FINISHED)),
    "unfinished": _UNFINISHED,
}
_REMOVE = "UPDATE jobs SET removed = true WHERE job_id = %s RETURNING *"
_CLAIM_LOCK = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"
_COUNT_CLAIMED = sql.SQL("SELECT count(*) AS n FROM jobs WHERE environment = %s AND {}").format(
    _STARTED
)
# The picked rows are materialised first: a LIMIT inside `IN (...)` may be re-evaluated by the
# planner and then claim more rows than there is room for.
_CLAIM = sql.SQL("""
WITH picked AS MATERIALIZED (
    SELECT job_id FROM jobs
    WHERE environment = %(env)s AND {unclaimed} AND stopreq = {none} AND NOT removed
    {oldest_first} LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE jobs SET submitted_at = now() FROM picked
    WHERE jobs.job_id = picked.job_id
    RETURNING jobs.*
), noticed AS (
    INSERT INTO notices (job_id, kind, status)
    SELECT job_id, {start}, status FROM claimed WHERE environment = ANY(%(notify)s::text[])
    ON CONFLICT DO NOTHING
)
SELECT * FROM claimed {oldest_first}
""").format(
    unclaimed=_UNCLAIMED,
    none=sql.Literal(int(StopReason.NONE)),
    oldest_first=_OLDEST_FIRST,
    start=sql.Literal(NoticeKind.START.value),
)
_RECORD_SUBMISSIONS = """
UPDATE jobs SET workflow_name = given.name, submitted_at = COALESCE(submitted_at, now())
FROM unnest(%(ids)s::text[], %(names)s::text[]) AS given(job_id, name)
WHERE jobs.job_id = given.job_id
RETURNING jobs.*
"""
_RELEASE = sql.SQL(
    "UPDATE jobs SET submitted_at = NULL, workflow_name = NULL WHERE job_id = %s AND status = {}"
).format(sql.Literal(int(JobStatus.QUEUED)))
# A status change and its history row in one statement. The job changes only from a status
# the domain allows (`sources`); under concurrent changes PostgreSQL re-checks that condition on
# the row as the other transaction left it, so two writers cannot both move one job. A final
# status stores its finish notice with it (for environments with a receiver).
_UPDATE = (
    sql.SQL("""
WITH job AS (
    UPDATE jobs SET
        status = %(status)s,
        date_finished = CASE WHEN %(finished)s AND date_finished IS NULL THEN now()
                             ELSE date_finished END,
        results = COALESCE(%(results)s, results),
        termination = COALESCE(%(termination)s, termination),
        stopreq = COALESCE(%(stopreq)s, stopreq),
        algorithm_started_at = COALESCE(algorithm_started_at, %(algorithm_started_at)s),
        error = COALESCE(%(error)s, error)
    WHERE job_id = %(job_id)s AND status = ANY(%(sources)s)
    RETURNING *
), history AS (
    INSERT INTO job_status_history (job_id, status, detail)
    SELECT job_id, status, %(error)s::text FROM job
), noticed AS (
    INSERT INTO notices (job_id, kind, status)
    SELECT job_id, {finish}, status FROM job
    WHERE %(finished)s AND environment = ANY(%(notify)s::text[])
    ON CONFLICT DO NOTHING
)
SELECT * FROM job
""")
    .format(finish=sql.Literal(NoticeKind.FINISH.value))
    .as_string()
)
_NOTICE = "INSERT INTO notices (job_id, kind, status) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
_HISTORY_OF = "SELECT status, at FROM job_status_history WHERE job_id = %s ORDER BY id"
# An environment's expiry of 0 means "the global default"; an effective expiry of 0 means forever.
# Removed jobs' results are due at once (a job deleted while running publishes after removal).
_EXPIRED = """
WITH expiry AS (
    SELECT environment, seconds FROM unnest(%(envs)s::text[], %(seconds)s::bigint[])
        AS e(environment, seconds)
), kept AS (
    SELECT jobs.*, COALESCE(NULLIF(expiry.seconds, 0), %(default)s::bigint) AS keep_seconds
    FROM jobs LEFT JOIN expiry USING (environment)
    WHERE date_finished IS NOT NULL AND results_deleted_at IS NULL
)
SELECT * FROM kept
WHERE removed
   OR (keep_seconds > 0 AND date_finished + make_interval(secs => keep_seconds) <= %(now)s)
ORDER BY date_finished, seq
"""
_RESULTS_DELETED = """
UPDATE jobs SET results_deleted_at = now() WHERE job_id = %s AND results_deleted_at IS NULL
"""


def _where(flt: JobFilter) -> tuple[sql.Composable, dict[str, Any]]:
    """The WHERE condition of a filter: its set fields with AND (owner case-insensitive)."""
    parts: list[sql.Composable] = [sql.SQL("TRUE")]
    params: dict[str, Any] = {}
    if flt.job_id:
        parts.append(sql.SQL("job_id = %(job_id)s"))
        params["job_id"] = flt.job_id
    if flt.owner:
        parts.append(sql.SQL("lower(owner) = lower(%(owner)s)"))
        params["owner"] = flt.owner
    if flt.agreement_id:
        parts.append(sql.SQL("agreement_id = %(agreement_id)s"))
        params["agreement_id"] = flt.agreement_id
    return sql.SQL(" AND ").join(parts), params


_FIND_QUERIES: dict[tuple[bool, bool, bool, bool], str] = {}

# A signed read: the nonce claim and the jobs in one statement; always one row at least (its
# job columns NULL when nothing matched), so the claim's outcome is known, and no job when the
# claim was refused.
_CLAIMED_SELECT = sql.SQL(
    "WITH {cte} SELECT c.n AS {column}, jobs.*, {history} "
    "FROM (SELECT count(*) AS n FROM claimed) AS c "
    "LEFT JOIN jobs ON c.n > 0 AND {where} {order}"
)


def _select(where: sql.Composable, claimed: bool) -> sql.Composable:
    """The jobs matching `where`, oldest first; carrying the nonce claim when `claimed`."""
    if not claimed:
        return sql.SQL("{} WHERE {} {}").format(_WITH_HISTORY, where, _OLDEST_FIRST)
    return _CLAIMED_SELECT.format(
        history=sql.SQL(HISTORY_COLUMN),
        cte=sql.SQL(nonces.CLAIMED_CTE),
        column=sql.Identifier(nonces.CLAIMED_COLUMN),
        where=where,
        order=_OLDEST_FIRST,
    )


def _find_query(
    job_id: bool, owner: bool, agreement: bool, where: sql.Composable, claimed: bool
) -> str:
    """The SELECT of a filter shape, composed once: GET /compute is the hottest query."""
    key = (job_id, owner, agreement, claimed)
    query = _FIND_QUERIES.get(key)
    if query is None:
        query = _FIND_QUERIES[key] = _select(where, claimed).as_string()
    return query


_GET_CLAIMED = _select(sql.SQL("job_id = %(job_id)s"), True).as_string()


async def _fetch_claimed(
    conn: Connection, query: str, params: dict[str, Any], claim: NonceClaim
) -> list[Job]:
    """The jobs of a statement carrying `claim`; NonceRejected when the claim was refused."""
    cur = await conn.execute(query, params)
    rows = await cur.fetchall()
    if not rows or not rows[0][nonces.CLAIMED_COLUMN]:
        raise _refused(claim)
    return [job_from_row(row) for row in rows if row["job_id"] is not None]


def _refused(claim: NonceClaim) -> NonceRejected:
    log.info("nonce_rejected", signer=claim.signer, nonce=str(claim.nonce))
    return claim.refused()


async def _fetch_jobs(
    conn: Connection, query: sql.Composable | str, params: Any = None
) -> list[Job]:
    cur = await conn.execute(query, params)  # type: ignore[arg-type]
    return [job_from_row(row) for row in await cur.fetchall()]


async def _fetch_job(conn: Connection, query: sql.Composable | str, params: Any) -> Job | None:
    cur = await conn.execute(query, params)  # type: ignore[arg-type]
    row = await cur.fetchone()
    return None if row is None else job_from_row(row)


@functools.cache
def _sources(target: JobStatus) -> list[int]:
    """The statuses a job may move to `target` from (domain.status.can_transition)."""
    return [int(status) for status in JobStatus if can_transition(status, target)]


class PostgresJobStore:
    """domain.ports.JobStore on PostgreSQL; every method is one transaction."""

    def __init__(
        self,
        database: Database,
        *,
        nonce_window: int = 0,
        notify_start: frozenset[str] = frozenset(),
        notify_finish: frozenset[str] = frozenset(),
    ) -> None:
        self.database = database
        self.nonce_window = nonce_window
        self._listings = asyncio.Semaphore(max(1, database.max_size // 2))
        # Environments whose jobs' starts and finishes are notified (an outbox row each).
        self.notify_start = sorted(notify_start)
        self.notify_finish = sorted(notify_finish)

    async def ping(self) -> None:
        await self.database.ping()

    def _claim_params(self, claim: NonceClaim) -> dict[str, Any]:
        return nonces.claim_params(claim.signer, claim.nonce, self.nonce_window)

    async def insert_job(self, job: NewJob, *, claim: NonceClaim | None = None) -> Job:
        params = new_job_params(job, JobStatus.QUEUED)
        try:
            async with self.database.connection() as conn:
                if claim is None:
                    stored = await _fetch_job(conn, _INSERT, params)
                else:
                    params |= self._claim_params(claim)
                    claimed = await _fetch_claimed(conn, _INSERT_CLAIMED, params, claim)
                    stored = claimed[0] if claimed else None
        except psycopg.errors.UniqueViolation as exc:
            if exc.diag.constraint_name == ONE_ACTIVE_PER_AGREEMENT:
                raise Conflict(AGREEMENT_IN_USE) from exc
            raise Conflict(f"job {job.job_id} already exists") from exc
        assert stored is not None  # INSERT ... RETURNING always returns the row
        return stored

    async def find_jobs(self, flt: JobFilter, *, claim: NonceClaim | None = None) -> list[Job]:
        where, params = _where(flt)
        shape = (bool(flt.job_id), bool(flt.owner), bool(flt.agreement_id))
        query = _find_query(*shape, where, claim is not None)
        async with self.database.connection() as conn:
            if claim is None:
                return await _fetch_jobs(conn, query, params)
            return await _fetch_claimed(conn, query, params | self._claim_params(claim), claim)

    async def get_job(self, job_id: str, *, claim: NonceClaim | None = None) -> Job | None:
        async with self.database.connection() as conn:
            if claim is None:
                return await _fetch_job(conn, _GET, (job_id,))
            params = {"job_id": job_id} | self._claim_params(claim)
            jobs = await _fetch_claimed(conn, _GET_CLAIMED, params, claim)
        return jobs[0] if jobs else None

    @contextlib.asynccontextmanager
    async def running_listing(
        self, namespaces: Mapping[str, str], *, limit: int | None = None, offset: int = 0
    ) -> AsyncIterator[AsyncIterator[str]]:
        """GET /runningjobs' objects as JSON text, oldest first: entered, the query runs (so a
        database failure is raised before anything is sent); the iterator then gives chunks of up
        to LISTING_CHUNK objects joined by commas, read from the server as they are sent on."""
        params = {
            "envs": list(namespaces),
            "namespaces": list(namespaces.values()),
            "limit": limit,
            "offset": offset,
            "chunk": LISTING_CHUNK,
        }
        async with self._listing_slot(), self.database.connection() as conn:
            # An async generator typed as an iterator: closed explicitly below, so that a listing
            # left half-read (a client gone) cancels its query before the connection goes back.
            rows = cast(
                AsyncGenerator[tuple[str], None],
                conn.cursor(row_factory=tuple_row).stream(_RUNNING, params),
            )
            first = await anext(rows, None)

            async def chunks() -> AsyncIterator[str]:
                if first is not None:
                    yield first[0]
                async for (chunk,) in rows:
                    yield chunk

            try:
                yield chunks()
            finally:
                await rows.aclose()

    @contextlib.asynccontextmanager
    async def _listing_slot(self) -> AsyncIterator[None]:
        """One of the few listings that may be sent at once: a listing holds its connection
        while a client reads it, so slow readers must not take the whole pool."""
        try:
            async with asyncio.timeout(self.database.timeout):
                await self._listings.acquire()
        except TimeoutError:
            raise Unavailable("too many listings are being sent: try again") from None
        try:
            yield
        finally:
            self._listings.release()

    async def jobs_to_resume(self) -> list[Job]:
        """Claimed, unfinished jobs (removed or not), oldest first: after a restart the engine and
        reconciler pick these up again (resubmit idempotently, or fail them explicitly)."""
        async with self.database.connection() as conn:
            return await _fetch_jobs(conn, _TO_RESUME)

    async def count_active(self) -> dict[str, int]:
        async with self.database.connection() as conn:
            cur = await conn.execute(_COUNT_ACTIVE)
            return {row["environment"]: int(row["n"]) for row in await cur.fetchall()}

    async def overdue_jobs(self, cutoffs: Mapping[str, dt.datetime]) -> list[Job]:
        """Started, unfinished jobs of each environment in `cutoffs` submitted at or before its
        cutoff, oldest first."""
        params = {"envs": list(cutoffs), "cutoffs": list(cutoffs.values())}
        async with self.database.connection() as conn:
            return await _fetch_jobs(conn, _OVERDUE, params)

    async def count_unfinished(self) -> tuple[dict[tuple[str, int], int], dict[str, int]]:
        """Unfinished jobs per (environment, status), and queued unclaimed jobs per environment
        (for the metrics gauges)."""
        by_status: dict[tuple[str, int], int] = {}
        waiting: dict[str, int] = {}
        async with self.database.connection() as conn:
            cur = await conn.execute(_COUNT_UNFINISHED)
            for row in await cur.fetchall():
                key = (row["environment"], int(row["status"]))
                by_status[key] = by_status.get(key, 0) + int(row["n"])
                if row["waiting"]:
                    waiting[row["environment"]] = waiting.get(row["environment"], 0) + int(row["n"])
        return by_status, waiting

    async def request_stop(self, flt: JobFilter, *, claim: NonceClaim | None = None) -> list[Job]:
        if flt.is_empty:  # an empty filter would stop every job of every owner
            raise InvalidRequest(FILTER_REQUIRED)
        where, params = _where(flt)
        async with self.database.transaction() as conn:
            # A stop is rare: its claim is the transaction's first statement, not folded in.
            if claim is not None and not await nonces.claim_nonce(
                conn, claim.signer, claim.nonce, self.nonce_window
            ):
                raise _refused(claim)
            cur = await conn.execute(_STOP.format(where=where, **_STOP_ARGS), params)
            for row in await cur.fetchall():
                if row["status"] == JobStatus.FINISHED:
                    detail = "stopped before it started"
                    await conn.execute(_HISTORY, (row["job_id"], int(JobStatus.FINISHED), detail))
                    if row["environment"] in self.notify_finish:
                        notice = (row["job_id"], NoticeKind.FINISH.value, int(JobStatus.FINISHED))
                        await conn.execute(_NOTICE, notice)
            query = sql.SQL("{} WHERE {} {}").format(_WITH_HISTORY, where, _OLDEST_FIRST)
            return await _fetch_jobs(conn, query, params)

    async def mark_removed(self, job_id: str) -> Job | None:
        async with self.database.connection() as conn:
            return await _fetch_job(conn, _REMOVE, (job_id,))

    async def claim_batch(self, environment: str, max_jobs: int, limit: int) -> list[Job]:
        async with self.database.transaction() as conn:
            await conn.execute(_CLAIM_LOCK, (_CLAIM_LOCK_CLASS, environment))
            cur = await conn.execute(_COUNT_CLAIMED, (environment,))
            row = await cur.fetchone()
            room = max_jobs - (int(row["n"]) if row is not None else 0)
            if room <= 0:
                return []
            params = {"env": environment, "limit": min(room, limit), "notify": self.notify_start}
            return await _fetch_jobs(conn, _CLAIM, params)

    async def record_submission(self, job_id: str, workflow_name: str) -> Job | None:
        recorded = await self.record_submissions([(job_id, workflow_name)])
        return recorded[0] if recorded else None

    async def record_submissions(self, submitted: Sequence[tuple[str, str]]) -> list[Job]:
        params = {"ids": [job_id for job_id, _ in submitted], "names": [n for _, n in submitted]}
        async with self.database.connection() as conn:
            return await _fetch_jobs(conn, _RECORD_SUBMISSIONS, params)

    async def release_claim(self, job_id: str) -> None:
        async with self.database.connection() as conn:
            await conn.execute(_RELEASE, (job_id,))

    async def apply_update(self, job_id: str, update: JobUpdate) -> Job | None:
        # A final status always finishes the job, so dateFinished can never stay empty.
        finished = update.finished or update.status.is_final
        params = update_params(job_id, update, finished) | {
            "sources": _sources(update.status),
            "notify": self.notify_finish,
        }
        async with self.database.connection() as conn:
            return await _fetch_job(conn, _UPDATE, params)

    async def status_history(self, job_id: str) -> list[tuple[int, dt.datetime]]:
        async with self.database.connection() as conn:
            cur = await conn.execute(_HISTORY_OF, (job_id,))
            return [(int(row["status"]), row["at"]) for row in await cur.fetchall()]

    async def expired_results(
        self, now: dt.datetime, default_expiry: int, expiries: Mapping[str, int] | None = None
    ) -> list[Job]:
        """Finished jobs whose results are not deleted yet and are either removed or older than
        their expiry in seconds: `expiries[environment]` when given and non-zero, else
        `default_expiry`; an expiry of 0 keeps results forever."""
        envs = list(expiries or {})
        params = {
            "envs": envs,
            "seconds": [int((expiries or {})[env]) for env in envs],
            "default": default_expiry,
            "now": now,
        }
        async with self.database.connection() as conn:
            return await _fetch_jobs(conn, _EXPIRED, params)

    async def mark_results_deleted(self, job_id: str) -> None:
        async with self.database.connection() as conn:
            await conn.execute(_RESULTS_DELETED, (job_id,))

    async def claim_nonce(self, signer: str, nonce: int) -> bool:
        async with self.database.connection() as conn:
            return await nonces.claim_nonce(conn, signer, nonce, self.nonce_window)

    async def spend_nonce(self, claim: NonceClaim) -> None:
        if not await self.claim_nonce(claim.signer, claim.nonce):
            raise _refused(claim)

    async def prune_nonces(self, batch: int = NONCE_PRUNE_BATCH) -> int:
        if self.nonce_window <= 0:
            return 0  # without a window every nonce must be remembered
        # Nonces more than the window below their signer's highest are refused by the claim
        # anyway, so their rows can go; the highest itself always stays as the reference point.
        async with self.database.connection() as conn:
            highest = await nonces.highest_per_signer(conn)
        pruned = 0
        for signer, top in highest.items():
            below = top - Decimal(self.nonce_window)
            while True:  # bounded batches: a large backlog never holds long locks
                async with self.database.connection() as conn:
                    deleted = await nonces.prune_below(conn, signer, below, batch)
                pruned += deleted
                if deleted < batch:
                    break
        return pruned
