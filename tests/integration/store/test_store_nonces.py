"""Nonces: each (signer, nonce) is accepted once, atomically, compared as big integers."""

from __future__ import annotations

import asyncio
import time

from operator_argo.store.database import Database
from operator_argo.store.jobs import PostgresJobStore

SIGNER = "0xAbCdEf0000000000000000000000000000000001"


async def test_a_nonce_is_accepted_once_per_signer(job_store: PostgresJobStore) -> None:
    assert await job_store.claim_nonce(SIGNER, 5)
    assert not await job_store.claim_nonce(SIGNER, 5)
    assert not await job_store.claim_nonce(SIGNER.lower(), 5)  # signers compare lowercased
    assert await job_store.claim_nonce("0x" + "2" * 40, 5)  # another signer may use it
    assert await job_store.claim_nonce(SIGNER, 4)  # no window: any unseen nonce


async def test_concurrent_claims_of_one_nonce_have_one_winner(database: Database) -> None:
    # Two pools: two replicas answering the same replayed request at once.
    other_db = Database(database.conninfo, min_size=3, max_size=3)
    await other_db.open()
    try:
        stores = [PostgresJobStore(database), PostgresJobStore(other_db)]
        for nonce in range(1, 6):
            outcomes = await asyncio.gather(
                *(stores[i % 2].claim_nonce(SIGNER, nonce) for i in range(6))
            )
            assert sorted(outcomes) == [False] * 5 + [True]
    finally:
        await other_db.close()


async def test_nineteen_digit_nonces_are_exact(job_store: PostgresJobStore) -> None:
    nonce = time.time_ns()  # what providers send
    assert nonce >= 10**18
    assert await job_store.claim_nonce(SIGNER, nonce)
    # Neighbours that a float (53-bit mantissa) could not tell apart are distinct nonces.
    assert float(nonce) == float(nonce + 1) or float(nonce) == float(nonce - 1)
    assert await job_store.claim_nonce(SIGNER, nonce + 1)
    assert await job_store.claim_nonce(SIGNER, nonce - 1)
    assert not await job_store.claim_nonce(SIGNER, nonce)
    huge = 10**40 + 7  # beyond bigint, still exact
    assert await job_store.claim_nonce(SIGNER, huge)
    assert not await job_store.claim_nonce(SIGNER, huge)
    assert await job_store.claim_nonce(SIGNER, huge + 1)


async def test_window_rejects_nonces_far_below_the_highest(database: Database) -> None:
    store = PostgresJobStore(database, nonce_window=1000)
    base = 1_700_000_000_000_000_000
    assert await store.claim_nonce(SIGNER, base)
    assert await store.claim_nonce(SIGNER, base - 1000)  # exactly at the window's edge
    assert not await store.claim_nonce(SIGNER, base - 1001)
    assert await store.claim_nonce(SIGNER, base + 5000)
    assert not await store.claim_nonce(SIGNER, base + 3999)  # the highest moved up
    assert await store.claim_nonce(SIGNER, base + 4000)
    assert await store.claim_nonce("0x" + "3" * 40, 1)  # windows are per signer


async def test_pruning_forgets_only_nonces_the_window_refuses(database: Database) -> None:
    store = PostgresJobStore(database, nonce_window=1000)
    other = "0x" + "4" * 40
    base = 1_700_000_000_000_000_000
    for offset in (0, 500, 2000, 2999, 3000):
        assert await store.claim_nonce(SIGNER, base + offset)
    assert await store.claim_nonce(other, 10)  # another signer's lone nonce is its highest

    # Highest is base+3000: base and base+500 are more than 1000 below it; base+2000 is exactly
    # at the edge and still accepted once, so it is kept.
    assert await store.prune_nonces(batch=1) == 2  # several batches until none is left
    assert await store.prune_nonces() == 0

    for forgotten in (base, base + 500):
        assert not await store.claim_nonce(SIGNER, forgotten)  # the window still refuses them
    for kept in (base + 2000, base + 2999, base + 3000):
        assert not await store.claim_nonce(SIGNER, kept)  # still remembered: no replay
    assert not await store.claim_nonce(other, 10)
    assert await store.claim_nonce(SIGNER, base + 2001)  # unseen and within the window


async def test_without_a_window_no_nonce_is_forgotten(job_store: PostgresJobStore) -> None:
    assert await job_store.claim_nonce(SIGNER, 1)
    assert await job_store.claim_nonce(SIGNER, 10**30)
    assert await job_store.prune_nonces() == 0
    assert not await job_store.claim_nonce(SIGNER, 1)  # far below, but remembered
