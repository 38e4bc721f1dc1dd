"""Signed calls: the nonce claim rides in the call's own statement, once, atomically."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from operator_argo.domain.caller import NonceClaim
from operator_argo.domain.errors import Conflict, NonceRejected
from operator_argo.domain.job import JobFilter, NewJob
from operator_argo.store.database import Database
from operator_argo.store.jobs import PostgresJobStore

MakeJob = Callable[..., NewJob]
SIGNER = "0x" + "5" * 40


def claim(nonce: int) -> NonceClaim:
    return NonceClaim(signer=SIGNER, nonce=nonce)


async def test_a_signed_insert_stores_the_job_and_spends_the_nonce(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    new = make_job()
    stored = await job_store.insert_job(new, claim=claim(1))
    assert stored.job_id == new.job_id
    assert await job_store.status_history(new.job_id) != []
    assert not await job_store.claim_nonce(SIGNER, 1)


async def test_a_replayed_insert_stores_nothing(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    assert await job_store.claim_nonce(SIGNER, 2)
    new = make_job()
    with pytest.raises(NonceRejected):
        await job_store.insert_job(new, claim=claim(2))
    assert await job_store.get_job(new.job_id) is None
    assert await job_store.status_history(new.job_id) == []


async def test_an_insert_refused_for_its_agreement_leaves_the_nonce_unspent(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    first = await job_store.insert_job(make_job())
    with pytest.raises(Conflict):
        await job_store.insert_job(make_job(agreement_id=first.agreement_id), claim=claim(3))
    assert await job_store.claim_nonce(SIGNER, 3)


async def test_a_signed_read_returns_the_jobs_once_per_nonce(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    new = make_job()
    await job_store.insert_job(new)
    flt = JobFilter(job_id=new.job_id)
    assert [job.job_id for job in await job_store.find_jobs(flt, claim=claim(4))] == [new.job_id]
    with pytest.raises(NonceRejected):
        await job_store.find_jobs(flt, claim=claim(4))
    assert await job_store.find_jobs(JobFilter(job_id="missing"), claim=claim(5)) == []
    assert (await job_store.get_job(new.job_id, claim=claim(6))) is not None
    with pytest.raises(NonceRejected):
        await job_store.get_job(new.job_id, claim=claim(6))
    with pytest.raises(NonceRejected):
        await job_store.request_stop(flt, claim=claim(6))
    assert (await job_store.get_job(new.job_id)).stopreq == 0  # type: ignore[union-attr]
    with pytest.raises(NonceRejected):
        await job_store.spend_nonce(claim(6))


async def test_concurrent_signed_reads_of_one_nonce_have_one_winner(
    database: Database, make_job: MakeJob
) -> None:
    # Two pools: two replicas answering the same replayed request at once.
    other_db = Database(database.conninfo, min_size=3, max_size=3)
    await other_db.open()
    try:
        stores = [PostgresJobStore(database), PostgresJobStore(other_db)]
        flt = JobFilter(owner="0x" + "6" * 40)
        for nonce in range(10, 14):
            outcomes = await asyncio.gather(
                *(stores[i % 2].find_jobs(flt, claim=claim(nonce)) for i in range(6)),
                return_exceptions=True,
            )
            assert sum(1 for item in outcomes if item == []) == 1
            assert all(isinstance(item, NonceRejected) for item in outcomes if item != [])
    finally:
        await other_db.close()
