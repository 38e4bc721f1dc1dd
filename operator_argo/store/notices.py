"""Notice store: every SQL statement of the notice outbox's delivery (domain.ports.NoticeStore).

Notices are inserted by the job statements that store what they report (store/jobs.py); this
module takes the due ones for delivery and records how each attempt went.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from operator_argo.domain.notice import Notice, NoticeKind
from operator_argo.store.database import Database
from operator_argo.store.rows import job_from_row, status_from_code

# Due notices are leased, not locked across the delivery: the lease (next_attempt_at moved past
# the attempt's timeout) keeps other replicas off while this one posts, and a replica that dies
# mid-attempt leaves a notice that comes due again when its lease ends.
_CLAIM_DUE = """
WITH due AS MATERIALIZED (
    SELECT job_id, kind FROM notices
    WHERE delivered_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= %(now)s
    ORDER BY next_attempt_at, job_id, kind
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE notices SET
        attempts = notices.attempts + 1,
        next_attempt_at = %(now)s + make_interval(secs => %(lease)s)
    FROM due
    WHERE notices.job_id = due.job_id AND notices.kind = due.kind
    RETURNING notices.*
)
SELECT leased.kind AS notice_kind, leased.status AS notice_status,
       leased.created_at AS notice_created_at, leased.attempts AS notice_attempts, jobs.*
FROM leased JOIN jobs USING (job_id)
ORDER BY leased.next_attempt_at, leased.job_id, leased.kind
"""
_DELIVERED = """
UPDATE notices SET delivered_at = %(now)s, last_error = NULL
WHERE job_id = %(job_id)s AND kind = %(kind)s
"""
_RETRY = """
UPDATE notices SET next_attempt_at = %(at)s, last_error = %(error)s
WHERE job_id = %(job_id)s AND kind = %(kind)s AND delivered_at IS NULL
"""
_GIVEN_UP = """
UPDATE notices SET given_up_at = %(now)s, last_error = %(error)s
WHERE job_id = %(job_id)s AND kind = %(kind)s AND delivered_at IS NULL
"""


def _notice_from_row(row: dict[str, Any]) -> Notice:
    return Notice(
        job=job_from_row(row),
        kind=NoticeKind(row["notice_kind"]),
        status=status_from_code(row["notice_status"]),
        created_at=row["notice_created_at"],
        attempts=int(row["notice_attempts"]),
    )


def _key(notice: Notice) -> dict[str, str]:
    return {"job_id": notice.job.job_id, "kind": notice.kind.value}


class PostgresNoticeStore:
    """domain.ports.NoticeStore on PostgreSQL; every method is one statement."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def claim_due_notices(
        self, now: dt.datetime, limit: int, lease_seconds: float
    ) -> list[Notice]:
        params = {"now": now, "limit": limit, "lease": lease_seconds}
        async with self.database.connection() as conn:
            cur = await conn.execute(_CLAIM_DUE, params)
            return [_notice_from_row(row) for row in await cur.fetchall()]

    async def notice_delivered(self, notice: Notice, now: dt.datetime) -> None:
        async with self.database.connection() as conn:
            await conn.execute(_DELIVERED, _key(notice) | {"now": now})

    async def notice_retry(self, notice: Notice, at: dt.datetime, error: str) -> None:
        async with self.database.connection() as conn:
            await conn.execute(_RETRY, _key(notice) | {"at": at, "error": error})

    async def notice_given_up(self, notice: Notice, now: dt.datetime, error: str) -> None:
        async with self.database.connection() as conn:
            await conn.execute(_GIVEN_UP, _key(notice) | {"now": now, "error": error})
