"""The notice outbox: notices stored with what they report, leased for delivery, recorded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from operator_argo.domain.job import JobFilter, JobUpdate, NewJob
from operator_argo.domain.notice import NoticeKind
from operator_argo.domain.status import JobStatus
from operator_argo.store.database import Database
from operator_argo.store.jobs import PostgresJobStore
from operator_argo.store.notices import PostgresNoticeStore
from tests.kit.store import claim_next

MakeJob = Callable[..., NewJob]


def notifying(database: Database) -> PostgresJobStore:
    """A job store whose env-a sends start and finish notices (env-b sends none)."""
    envs = frozenset({"env-a"})
    return PostgresJobStore(database, notify_start=envs, notify_finish=envs)


async def outbox(database: Database) -> list[tuple[str, str, int, int, bool]]:
    async with database.connection() as conn:
        cur = await conn.execute(
            "SELECT job_id, kind, status, attempts, delivered_at IS NOT NULL AS delivered "
            "FROM notices ORDER BY created_at, kind DESC"
        )
        return [
            (r["job_id"], r["kind"], r["status"], r["attempts"], r["delivered"])
            for r in await cur.fetchall()
        ]


async def test_a_claim_stores_the_start_and_the_final_status_the_finish(
    database: Database, make_job: MakeJob
) -> None:
    store = notifying(database)
    job = await store.insert_job(make_job())
    assert await outbox(database) == []  # queued is not started
    assert await claim_next(store, "env-a", 5) is not None
    assert await outbox(database) == [(job.job_id, "start", 1, 0, False)]
    await store.apply_update(job.job_id, JobUpdate(status=JobStatus.RUNNING))
    assert len(await outbox(database)) == 1  # progress is not notified
    done = JobUpdate(status=JobStatus.ALGORITHM_FAILED, finished=True, results=())
    assert await store.apply_update(job.job_id, done) is not None
    assert await store.apply_update(job.job_id, done) is None  # final: no second change
    assert await outbox(database) == [
        (job.job_id, "start", 1, 0, False),
        (job.job_id, "finish", 32, 0, False),
    ]


async def test_a_job_stopped_before_its_claim_gets_only_a_finish_notice(
    database: Database, make_job: MakeJob
) -> None:
    store = notifying(database)
    job = await store.insert_job(make_job())
    (stopped,) = await store.request_stop(JobFilter(job_id=job.job_id))
    assert stopped.status is JobStatus.FINISHED
    assert await outbox(database) == [(job.job_id, "finish", 70, 0, False)]


async def test_environments_without_a_receiver_store_no_notices(
    database: Database, make_job: MakeJob
) -> None:
    store = notifying(database)
    job = await store.insert_job(make_job(environment="env-b"))
    assert await claim_next(store, "env-b", 5) is not None
    await store.apply_update(job.job_id, JobUpdate(status=JobStatus.FINISHED, finished=True))
    queued = await store.insert_job(make_job(environment="env-b"))
    await store.request_stop(JobFilter(job_id=queued.job_id))
    assert await outbox(database) == []


async def test_due_notices_are_leased_once_and_their_outcomes_recorded(
    database: Database, make_job: MakeJob
) -> None:
    store, notices = notifying(database), PostgresNoticeStore(database)
    first = await store.insert_job(make_job())
    second = await store.insert_job(make_job())
    assert len(await store.claim_batch("env-a", 5, 5)) == 2
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    leased = await notices.claim_due_notices(now, 1, lease_seconds=30)
    other = await notices.claim_due_notices(now, 5, lease_seconds=30)  # another replica
    assert sorted(n.job.job_id for n in leased + other) == sorted([first.job_id, second.job_id])
    assert await notices.claim_due_notices(now, 5, lease_seconds=30) == []  # both leased
    (notice,) = leased
    assert (notice.kind, notice.status, notice.attempts) == (NoticeKind.START, JobStatus.QUEUED, 1)
    assert notice.job.submitted_at is not None
    assert notice.notice_id == f"{notice.job.job_id}/start"

    await notices.notice_retry(notice, now + dt.timedelta(seconds=2), "the receiver answered 503")
    assert await notices.claim_due_notices(now + dt.timedelta(seconds=1), 5, 30) == []
    (again,) = await notices.claim_due_notices(now + dt.timedelta(seconds=2), 5, 30)
    assert again.attempts == 2
    await notices.notice_delivered(again, now)
    await notices.notice_given_up(other[0], now, "expired")
    later = now + dt.timedelta(hours=1)
    assert await notices.claim_due_notices(later, 5, 30) == []  # delivered or given up: done
    assert sorted((j, k, a, d) for j, k, _, a, d in await outbox(database)) == sorted(
        [(notice.job.job_id, "start", 2, True), (other[0].job.job_id, "start", 1, False)]
    )


async def test_a_lease_that_runs_out_makes_the_notice_due_again(
    database: Database, make_job: MakeJob
) -> None:
    store, notices = notifying(database), PostgresNoticeStore(database)
    await store.insert_job(make_job())
    assert await claim_next(store, "env-a", 5) is not None
    now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert len(await notices.claim_due_notices(now, 5, lease_seconds=15)) == 1
    # The replica that leased it died mid-attempt: nothing recorded its outcome.
    assert await notices.claim_due_notices(now + dt.timedelta(seconds=14), 5, 15) == []
    (retaken,) = await notices.claim_due_notices(now + dt.timedelta(seconds=15), 5, 15)
    assert retaken.attempts == 2
