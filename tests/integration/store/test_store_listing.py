"""The running-job listing: objects rendered by PostgreSQL equal the domain's, in chunks, paged."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from operator_argo.api.render import status_object
from operator_argo.domain.job import (
    AlgorithmSpec,
    ContainerSpec,
    InputSpec,
    Job,
    JobSpec,
    JobUpdate,
    NewJob,
    epoch_text,
)
from operator_argo.domain.status import JobStatus
from operator_argo.store import jobs as store_jobs
from operator_argo.store.jobs import PostgresJobStore
from tests.kit import factories
from tests.kit.data import OCEAN_EXAMPLES

MakeJob = Callable[..., NewJob]
NAMESPACES = {"env-a": "ns-a"}


RUNNING_KEYS = set(json.loads((OCEAN_EXAMPLES / "GET-runningjobs.response.json").read_text())[0])


def expected(job: Job) -> dict[str, Any]:
    """The running-job object of `job`: its status object's fields (the domain's rules, as the
    API renders them) and its namespace."""
    status = status_object(job)
    assert status["dateCreated"] == epoch_text(job.date_created)
    namespace = {"namespace": NAMESPACES.get(job.environment, job.environment)}
    return {key: status[key] for key in RUNNING_KEYS - set(namespace)} | namespace


async def listed(store: PostgresJobStore, **page: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """The listing's objects and its raw chunks."""
    async with store.running_listing(NAMESPACES, **page) as chunks:
        texts = [chunk async for chunk in chunks]
    return json.loads("[" + ",".join(texts) + "]"), texts


def _spec(algorithm_did: str | None, input_dids: list[str | None]) -> JobSpec:
    container = ContainerSpec(entrypoint="python $ALGO", image="python", tag="3.11")
    return JobSpec(
        inputs=tuple(
            InputSpec(index=i, did=did, urls=("http://127.0.0.1:1/a",))
            for i, did in enumerate(input_dids)
        ),
        algorithm=AlgorithmSpec(did=algorithm_did, container=container, rawcode="x"),
    )


async def test_the_objects_are_the_domains_every_status_and_spec_shape(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    specs = [
        _spec(None, ["did:op:1", None, 'did:op:"q\\u00e9']),  # no algorithm id: "raw"
        _spec("", []),  # an empty algorithm id stays "", no inputs: []
        _spec("did:op:algo", ["did:op:2"]),
    ]
    stored = []
    for index, spec in enumerate(specs):
        env = "env-a" if index else "gone"  # an environment no longer configured: its id
        stored.append(await job_store.insert_job(factories.new_job(env, spec=spec)))
    moved = await job_store.apply_update(stored[2].job_id, JobUpdate(status=JobStatus.RUNNING))
    assert moved is not None
    stored[2] = moved
    objects, _ = await listed(job_store)
    assert objects == [expected(job) for job in stored]
    for status in JobStatus:  # every text byte-exact, the trailing space of 40 included
        query = store_jobs._STATUS_TEXT.as_string()
        assert f"WHEN {int(status)} THEN '{json.dumps(status.text)}'" in query


async def test_finished_and_removed_jobs_are_not_listed(
    job_store: PostgresJobStore, make_job: MakeJob
) -> None:
    kept = await job_store.insert_job(make_job())
    done = await job_store.insert_job(make_job())
    removed = await job_store.insert_job(make_job())
    await job_store.apply_update(done.job_id, JobUpdate(status=JobStatus.FINISHED, finished=True))
    await job_store.mark_removed(removed.job_id)
    objects, _ = await listed(job_store)
    assert [item["jobId"] for item in objects] == [kept.job_id]


async def test_chunks_pages_and_an_empty_listing(
    job_store: PostgresJobStore, make_job: MakeJob, monkeypatch: Any
) -> None:
    assert await listed(job_store) == ([], [])
    monkeypatch.setattr(store_jobs, "LISTING_CHUNK", 2)
    ids = [(await job_store.insert_job(make_job())).job_id for _ in range(5)]
    objects, chunks = await listed(job_store)
    assert [item["jobId"] for item in objects] == ids  # oldest first
    assert [len(json.loads(f"[{chunk}]")) for chunk in chunks] == [2, 2, 1]
    page, _ = await listed(job_store, limit=2, offset=1)
    assert [item["jobId"] for item in page] == ids[1:3]
    rest, _ = await listed(job_store, offset=4)
    assert [item["jobId"] for item in rest] == ids[4:]
    assert await listed(job_store, limit=0) == ([], [])


async def test_a_listing_left_half_read_gives_its_connection_back_idle(
    job_store: PostgresJobStore, make_job: MakeJob, monkeypatch: Any
) -> None:
    monkeypatch.setattr(store_jobs, "LISTING_CHUNK", 1)
    for _ in range(3):
        await job_store.insert_job(make_job())
    for _ in range(job_store.database.max_size + 1):  # more than the pool: none is lost
        async with job_store.running_listing(NAMESPACES) as chunks:
            async for _chunk in chunks:
                break
    assert len((await listed(job_store))[0]) == 3
