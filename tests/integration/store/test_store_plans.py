"""Reads per environment stay off the queue: what PostgreSQL's planner does with a long queue."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

from psycopg import sql

from operator_argo.domain.job import NewJob
from operator_argo.store import jobs as store_jobs
from operator_argo.store.jobs import PostgresJobStore
from tests.kit.store import claim_next

MakeJob = Callable[..., NewJob]
QUEUED = 3_000

# Copies of one queued job: a queue long enough for the planner to tell the indexes apart.
_GROW = """
INSERT INTO jobs (job_id, owner, agreement_id, environment, spec)
SELECT md5('q' || g), owner, md5('a' || g), environment, spec
FROM (SELECT * FROM jobs LIMIT 1) AS template, generate_series(1, %s) AS g
"""


def scans(plan: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    """(node type, index) of every node of `plan` that reads the jobs table."""
    if plan.get("Relation Name") == "jobs":
        yield plan["Node Type"], plan.get("Index Name")
    for child in plan.get("Plans", []):
        yield from scans(child)


async def plan_of(store: PostgresJobStore, query: Any, params: Any = None) -> list[Any]:
    text = query.as_string() if isinstance(query, sql.Composable) else query
    async with store.database.connection() as conn:
        cur = await conn.execute(f"EXPLAIN (FORMAT JSON) {text}", params)
        row = await cur.fetchone()
    assert row is not None
    document = row["QUERY PLAN"]
    return list(scans((json.loads(document) if isinstance(document, str) else document)[0]["Plan"]))


async def test_counts_claims_and_overdue_jobs_read_only_the_started_jobs_index(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    for _ in range(3):
        await job_store.insert_job(make_job(environment="env-a"))
    await claim_next(job_store, "env-a", 10)
    async with job_store.database.connection() as conn:
        await conn.execute(_GROW, (QUEUED,))
        await conn.execute("ANALYZE jobs")
    now = dt.datetime.now(dt.UTC)
    reads = {
        "currentJobs": await plan_of(job_store, store_jobs._COUNT_ACTIVE),
        "claim room": await plan_of(job_store, store_jobs._COUNT_CLAIMED, ("env-a",)),
        "overdue": await plan_of(
            job_store, store_jobs._OVERDUE, {"envs": ["env-a"], "cutoffs": [now]}
        ),
    }
    for what, read in reads.items():
        assert read, what
        assert {index for _, index in read} == {"jobs_started"}, (what, read)
    assert await job_store.count_active() == {"env-a": 1}
