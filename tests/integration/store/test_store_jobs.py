"""Job store: insert, find, filters, the one-unfinished-job-per-agreement rule, stop and remove."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from operator_argo.domain.errors import Conflict, InvalidRequest
from operator_argo.domain.job import JobFilter, JobUpdate, NewJob, StatusChange
from operator_argo.domain.status import JobStatus, StopReason
from operator_argo.store.jobs import PostgresJobStore
from tests.kit.store import claim_next

MakeJob = Callable[..., NewJob]


async def test_insert_round_trips_every_field(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    new = make_job()
    stored = await job_store.insert_job(new)
    fetched = await job_store.get_job(new.job_id)
    assert fetched == stored
    assert stored.job_id == new.job_id
    assert stored.spec == new.spec  # jsonb round trip of the whole spec
    assert (stored.owner, stored.agreement_id, stored.environment) == (
        new.owner,
        new.agreement_id,
        new.environment,
    )
    assert (stored.chain_id, stored.provider_address, stored.valid_until) == (
        8996,
        new.provider_address,
        1_900_000_000,
    )
    assert stored.status is JobStatus.QUEUED
    assert stored.stopreq is StopReason.NONE
    assert stored.results is None and stored.date_finished is None and not stored.removed
    assert stored.date_created.tzinfo is not None
    assert await job_store.status_history(new.job_id) == [(1, stored.date_created)]
    assert stored.history == (StatusChange(status=JobStatus.QUEUED, at=stored.date_created),)
    assert fetched is not None and fetched.history is None  # only status queries load it


async def test_status_queries_bring_the_history_in_the_same_statement(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    job = await job_store.insert_job(make_job())
    await claim_next(job_store, job.environment, 10)
    for status in (JobStatus.CONFIGURING, JobStatus.RUNNING):
        assert await job_store.apply_update(job.job_id, JobUpdate(status=status)) is not None
    (found,) = await job_store.find_jobs(JobFilter(job_id=job.job_id))
    stored = await job_store.status_history(job.job_id)
    assert found.history == tuple(
        StatusChange(status=JobStatus(code), at=at) for code, at in stored
    )
    (stopped,) = await job_store.request_stop(JobFilter(job_id=job.job_id))
    assert [change.status for change in stopped.history or ()] == [1, 20, 40]


async def test_get_unknown_job_is_none(job_store: PostgresJobStore) -> None:
    assert await job_store.get_job("0" * 32) is None


async def test_filters_combine_with_and(job_store: PostgresJobStore, make_job: MakeJob) -> None:
    alice, bob = (
        "0xAAAA00000000000000000000000000000000000a",
        "0xBBBB00000000000000000000000000000000000b",
    )
    a1 = await job_store.insert_job(make_job(owner=alice, agreement_id="agr-1"))
    a2 = await job_store.insert_job(make_job(owner=alice, agreement_id="agr-2"))
    b1 = await job_store.insert_job(make_job(owner=bob, agreement_id="agr-3"))

    def ids(jobs: list) -> list[str]:  # type: ignore[type-arg]
        return [job.job_id for job in jobs]

    assert ids(await job_store.find_jobs(JobFilter(owner=alice.lower()))) == [a1.job_id, a2.job_id]
    assert ids(await job_store.find_jobs(JobFilter(owner=alice.upper()))) == [a1.job_id, a2.job_id]
    assert ids(await job_store.find_jobs(JobFilter(owner=alice, agreement_id="agr-2"))) == [
        a2.job_id
    ]
    assert ids(await job_store.find_jobs(JobFilter(owner=bob, agreement_id="agr-2"))) == []
    assert ids(await job_store.find_jobs(JobFilter(job_id=b1.job_id, owner=bob))) == [b1.job_id]
    assert ids(await job_store.find_jobs(JobFilter(job_id=b1.job_id, owner=alice))) == []
    assert ids(await job_store.find_jobs(JobFilter(agreement_id="agr-3"))) == [b1.job_id]
    # Values are data, never SQL.
    assert await job_store.find_jobs(JobFilter(owner="' OR '1'='1")) == []


async def test_same_agreement_twice_is_a_conflict(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    await job_store.insert_job(make_job(agreement_id="agr-x"))
    with pytest.raises(Conflict) as info:
        await job_store.insert_job(make_job(agreement_id="agr-x"))
    assert info.value.message == "`agreementId` already in use for other job."
    assert len(await job_store.find_jobs(JobFilter(agreement_id="agr-x"))) == 1


async def test_concurrent_inserts_of_one_agreement_store_exactly_one(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    outcomes = await asyncio.gather(
        *(job_store.insert_job(make_job(agreement_id="agr-race")) for _ in range(4)),
        return_exceptions=True,
    )
    stored = [item for item in outcomes if not isinstance(item, BaseException)]
    conflicts = [item for item in outcomes if isinstance(item, Conflict)]
    assert len(stored) == 1 and len(conflicts) == 3
    assert [
        job.job_id for job in await job_store.find_jobs(JobFilter(agreement_id="agr-race"))
    ] == [
        stored[0].job_id  # type: ignore[union-attr]
    ]


async def test_agreement_is_free_again_once_its_job_finished(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    first = await job_store.insert_job(make_job(agreement_id="agr-again"))
    done = JobUpdate(status=JobStatus.FINISHED, finished=True, results=())
    assert await job_store.apply_update(first.job_id, done) is not None
    second = await job_store.insert_job(make_job(agreement_id="agr-again"))
    with pytest.raises(Conflict):
        await job_store.insert_job(make_job(agreement_id="agr-again"))
    found = await job_store.find_jobs(JobFilter(agreement_id="agr-again"))
    assert [job.job_id for job in found] == [first.job_id, second.job_id]


async def test_request_stop_finishes_unclaimed_jobs_at_once(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    owner = "0xCCCC00000000000000000000000000000000000c"
    queued = await job_store.insert_job(make_job(owner=owner))
    claimed = await job_store.insert_job(make_job(owner=owner))
    other = await job_store.insert_job(make_job())
    assert (await claim_next(job_store, "env-a", 10)).job_id == queued.job_id  # type: ignore[union-attr]
    await job_store.release_claim(queued.job_id)
    assert (await claim_next(job_store, "env-a", 1)).job_id == queued.job_id  # type: ignore[union-attr]
    # now `queued` is claimed; stop the other one while it is still unclaimed
    stopped = await job_store.request_stop(JobFilter(job_id=claimed.job_id))
    assert [job.job_id for job in stopped] == [claimed.job_id]
    (job,) = stopped
    assert job.status is JobStatus.FINISHED and job.stopreq is StopReason.REQUESTED
    assert job.results == () and job.date_finished is not None and job.submitted_at is None
    assert [status for status, _ in await job_store.status_history(job.job_id)] == [1, 70]

    # The claimed job keeps its status (the engine stops it); both come back, oldest first.
    both = await job_store.request_stop(JobFilter(owner=owner.upper()))
    assert [j.job_id for j in both] == [queued.job_id, claimed.job_id]
    assert both[0].status is JobStatus.QUEUED and both[0].stopreq is StopReason.REQUESTED
    assert both[0].date_finished is None and both[0].submitted_at is not None
    assert both[1].date_finished == job.date_finished  # finished once, not again
    untouched = await job_store.get_job(other.job_id)
    assert untouched is not None and untouched.stopreq is StopReason.NONE


async def test_request_stop_refuses_an_empty_filter(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    job = await job_store.insert_job(make_job())
    with pytest.raises(InvalidRequest):
        await job_store.request_stop(JobFilter())
    after = await job_store.get_job(job.job_id)
    assert after is not None and after.stopreq is StopReason.NONE


async def test_stopped_queued_job_is_never_claimed(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    first = await job_store.insert_job(make_job())
    second = await job_store.insert_job(make_job())
    await job_store.request_stop(JobFilter(job_id=first.job_id))
    claimed = await claim_next(job_store, "env-a", 10)
    assert claimed is not None and claimed.job_id == second.job_id
    assert await claim_next(job_store, "env-a", 10) is None


async def test_request_stop_keeps_a_deadline_reason(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    job = await job_store.insert_job(make_job())
    await claim_next(job_store, "env-a", 1)
    running = JobUpdate(status=JobStatus.RUNNING, stopreq=StopReason.DEADLINE)
    assert await job_store.apply_update(job.job_id, running) is not None
    (after,) = await job_store.request_stop(JobFilter(job_id=job.job_id))
    assert after.stopreq is StopReason.DEADLINE and after.status is JobStatus.RUNNING


async def test_mark_removed(job_store: PostgresJobStore, make_job: MakeJob) -> None:
    job = await job_store.insert_job(make_job())
    removed = await job_store.mark_removed(job.job_id)
    assert removed is not None and removed.removed
    assert await job_store.mark_removed("f" * 32) is None
    assert (await job_store.find_jobs(JobFilter(job_id=job.job_id)))[0].removed


async def running_ids(store: PostgresJobStore) -> list[str]:
    async with store.running_listing({}) as chunks:
        return [
            item["jobId"] for item in json.loads("[" + ",".join([c async for c in chunks]) + "]")
        ]


async def test_running_jobs_and_counts(job_store: PostgresJobStore, make_job: MakeJob) -> None:
    a1 = await job_store.insert_job(make_job(environment="env-a"))
    a2 = await job_store.insert_job(make_job(environment="env-a"))
    b1 = await job_store.insert_job(make_job(environment="env-b"))
    removed = await job_store.insert_job(make_job(environment="env-b"))
    await job_store.mark_removed(removed.job_id)
    assert await job_store.count_active() == {}
    await claim_next(job_store, "env-a", 5)
    await claim_next(job_store, "env-b", 5)
    assert await job_store.count_active() == {"env-a": 1, "env-b": 1}
    assert await running_ids(job_store) == [a1.job_id, a2.job_id, b1.job_id]
    assert [j.job_id for j in await job_store.jobs_to_resume()] == [a1.job_id, b1.job_id]
    await job_store.apply_update(a1.job_id, JobUpdate(status=JobStatus.FINISHED, finished=True))
    assert await job_store.count_active() == {"env-b": 1}
    assert await running_ids(job_store) == [a2.job_id, b1.job_id]
    assert [j.job_id for j in await job_store.jobs_to_resume()] == [b1.job_id]
