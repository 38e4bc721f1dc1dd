"""Store steps tests take that production code takes only in batches."""

from __future__ import annotations

from operator_argo.domain.job import Job
from operator_argo.domain.ports import JobStore


async def claim_next(store: JobStore, environment: str, max_jobs: int) -> Job | None:
    """Claim the oldest queued job of `environment`, as the scheduler would in a batch of one."""
    claimed = await store.claim_batch(environment, max_jobs, 1)
    return claimed[0] if claimed else None
