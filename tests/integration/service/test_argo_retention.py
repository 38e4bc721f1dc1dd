"""Finished workflows stay visible for a while and Argo removes them: persist first, then GC.

The whole operator on the Argo engine against the fake API server; the test plays the Argo
controller, including the TTL garbage collector that deletes a workflow once its time is up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from operator_argo.config import Settings, validate_settings
from operator_argo.domain.environment import Environment
from operator_argo.domain.errors import ConfigurationError, Unavailable
from operator_argo.domain.job import JobUpdate
from operator_argo.domain.names import workflow_name
from operator_argo.domain.observation import Phase
from operator_argo.engines.argo.client import KubeClient
from operator_argo.engines.argo.engine import ArgoEngine
from operator_argo.engines.argo.status import parse_workflow
from operator_argo.service.reconciler import Reconciler
from operator_argo.store.jobs import PostgresJobStore
from tests.fakes.kube import FakeKube, fake_kube
from tests.integration.service.test_argo_pipeline import published, raw_request, submitted
from tests.kit.factories import new_job
from tests.kit.store import claim_next
from tests.operatorkit import eventually, job_status, running_operator, status_is

__all__ = ["fake_kube"]

NS = "ocean-compute"


@pytest.fixture
def make_settings(
    settings_factory: Callable[..., Settings], fake_kube: FakeKube, tmp_path: Path
) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        return settings_factory(
            engine="argo",
            kubeconfig=str(fake_kube.write_kubeconfig(tmp_path / "kubeconfig")),
            scheduler_interval=0.05,
            resync_interval=30.0,
            environments=(Environment(id=NS, namespace=NS, max_job_duration=60),),
            **overrides,
        )

    return make


def play(fake_kube: FakeKube, wf: str, results_dir: Path, job_id: str, *, phase: str) -> None:
    """Argo running the job to its end: the algorithm succeeds or fails, publish reports."""
    fake_kube.set_step(NS, wf, "configure", "Succeeded", exit_code=0, result={"error": None})
    algorithm = "Succeeded" if phase == "Succeeded" else "Failed"
    fake_kube.set_step(
        NS, wf, "algorithm", algorithm, exit_code=0 if algorithm == "Succeeded" else 1
    )
    result = published(job_id, results_dir)
    fake_kube.set_step(NS, wf, "publish", "Succeeded", exit_code=0, result=result)
    fake_kube.finish(NS, wf, phase)


def ttl(success: int, failure: int) -> dict[str, int]:
    """The ttlStrategy Argo is given (an Error phase counts as a failure)."""
    return {
        "secondsAfterSuccess": success,
        "secondsAfterFailure": failure,
        "secondsAfterCompletion": failure,
    }


def requests_for(fake_kube: FakeKube, method: str, wf: str) -> int:
    return sum(1 for m, path in fake_kube.requests if m == method and path.endswith(f"/{wf}"))


async def watcher_caught_up(fake_kube: FakeKube) -> None:
    """Everything sent on the current watch has been handled: cut it, wait for the next one
    (the watcher relists and reports every workflow before it watches again)."""
    served = fake_kube.watch_count
    fake_kube.drop_watches()
    await fake_kube.wait_watches(served + 1, timeout=10)


async def test_a_finished_workflow_is_kept_with_a_ttl_and_its_removal_changes_nothing(
    make_settings: Callable[..., Settings], fake_kube: FakeKube
) -> None:
    settings = make_settings()
    async with running_operator(settings) as (runtime, client):
        job_id, wf = await submitted(client, fake_kube, raw_request())
        spec = fake_kube.workflow(NS, wf)["spec"]
        assert "ttlStrategy" not in spec  # nothing may remove it before its end is stored
        assert spec["podGC"] == spec["volumeClaimGC"] == {"strategy": "OnWorkflowCompletion"}
        play(fake_kube, wf, settings.results_dir, job_id, phase="Succeeded")
        await eventually(status_is(client, job_id, 70))
        await eventually(lambda: "ttlStrategy" in fake_kube.workflow(NS, wf)["spec"])
        assert fake_kube.workflow(NS, wf)["spec"]["ttlStrategy"] == ttl(3600, 3600)
        stored = await job_status(client, job_id)
        await watcher_caught_up(fake_kube)  # seen again after the relist: released, left alone
        assert requests_for(fake_kube, "PATCH", wf) == 1

        fake_kube.delete_behind(NS, wf)  # Argo's TTL garbage collector, an hour later
        await watcher_caught_up(fake_kube)
        assert await job_status(client, job_id) == stored
        job = await runtime.store.get_job(job_id)
        assert job is not None and job.error is None
        assert requests_for(fake_kube, "DELETE", wf) == 0  # Argo removed it, not the operator
        assert requests_for(fake_kube, "PATCH", wf) == 1  # nor did it try to release it again


async def test_keep_finished_0_deletes_the_workflow_once_the_job_is_stored(
    make_settings: Callable[..., Settings], fake_kube: FakeKube
) -> None:
    settings = make_settings(keep_finished=0)
    async with running_operator(settings) as (_, client):
        job_id, wf = await submitted(client, fake_kube, raw_request())
        play(fake_kube, wf, settings.results_dir, job_id, phase="Succeeded")
        await eventually(status_is(client, job_id, 70))
        await eventually(lambda: (NS, wf) not in fake_kube.workflows)
        assert requests_for(fake_kube, "PATCH", wf) == 0


async def test_keep_failed_keeps_a_failed_jobs_pods_and_volume_longer(
    make_settings: Callable[..., Settings], fake_kube: FakeKube
) -> None:
    settings = make_settings(keep_finished=600, keep_failed=86_400)
    async with running_operator(settings) as (_, client):
        job_id, wf = await submitted(client, fake_kube, raw_request())
        spec = fake_kube.workflow(NS, wf)["spec"]
        assert spec["podGC"] == spec["volumeClaimGC"] == {"strategy": "OnWorkflowSuccess"}
        play(fake_kube, wf, settings.results_dir, job_id, phase="Failed")
        await eventually(status_is(client, job_id, 70))
        await eventually(lambda: "ttlStrategy" in fake_kube.workflow(NS, wf)["spec"])
        assert fake_kube.workflow(NS, wf)["spec"]["ttlStrategy"] == ttl(600, 86_400)


async def test_nothing_is_released_before_the_jobs_end_is_stored(
    make_settings: Callable[..., Settings],
    fake_kube: FakeKube,
    job_store: PostgresJobStore,
) -> None:
    settings = make_settings()
    client = await KubeClient.connect(settings)
    try:
        await _released_only_once_stored(
            settings, ArgoEngine(settings, client), fake_kube, job_store
        )
    finally:
        await client.close()


async def _released_only_once_stored(
    settings: Settings, engine: ArgoEngine, fake_kube: FakeKube, job_store: PostgresJobStore
) -> None:

    class DatabaseDown:
        """The job store while the database is out: updates cannot be stored."""

        def __getattr__(self, name: str) -> Any:
            return getattr(job_store, name)

        async def apply_update(self, job_id: str, update: JobUpdate) -> None:
            raise Unavailable("the database is not reachable")

    job = await job_store.insert_job(new_job(NS))
    assert await claim_next(job_store, NS, 1) is not None
    name = await engine.submit(job, settings.environments[0])
    await job_store.record_submission(job.job_id, name)
    play(fake_kube, name, settings.results_dir, job.job_id, phase="Succeeded")
    final = parse_workflow(fake_kube.workflow(NS, name))
    assert final.phase is Phase.SUCCEEDED and not final.released

    with pytest.raises(Unavailable):
        await Reconciler(DatabaseDown(), engine).apply(final)  # type: ignore[arg-type]
    assert requests_for(fake_kube, "PATCH", name) == 0
    assert "ttlStrategy" not in fake_kube.workflow(NS, name)["spec"]

    await Reconciler(job_store, engine).apply(final)  # the watcher offers it again
    stored = await job_store.get_job(job.job_id)
    assert stored is not None and stored.is_finished
    assert fake_kube.workflow(NS, name)["spec"]["ttlStrategy"]["secondsAfterSuccess"] == 3600
    assert parse_workflow(fake_kube.workflow(NS, name)).released
    assert workflow_name(job.job_id) == name


def test_keep_failed_shorter_than_keep_finished_is_refused(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ConfigurationError, match="OPERATOR_KEEP_FAILED"):
        validate_settings(dataclasses.replace(make_settings(), keep_failed=60))


async def test_a_deleted_jobs_workflow_goes_at_once_instead_of_being_kept(
    make_settings: Callable[..., Settings], fake_kube: FakeKube
) -> None:
    settings = make_settings()
    owner = raw_request()["owner"]
    async with running_operator(settings) as (_, client):
        # Deleted while it runs: once its end is stored, its workflow is removed, not kept.
        running, wf = await submitted(client, fake_kube, raw_request())
        fake_kube.set_step(NS, wf, "algorithm", "Running")
        resp = await client.delete(
            "/api/v1/operator/compute", params={"jobId": running, "owner": owner}
        )
        assert resp.status == 200
        await eventually(lambda: fake_kube.workflow(NS, wf)["spec"].get("shutdown") == "Stop")
        play(fake_kube, wf, settings.results_dir, running, phase="Failed")
        await eventually(lambda: (NS, wf) not in fake_kube.workflows)
        assert requests_for(fake_kube, "PATCH", wf) == 1  # the stop, no TTL

        # Deleted after it finished: its kept workflow goes with it.
        done, wf = await submitted(
            client, fake_kube, raw_request() | {"agreementId": "0x" + "d" * 32}
        )
        play(fake_kube, wf, settings.results_dir, done, phase="Succeeded")
        await eventually(lambda: "ttlStrategy" in fake_kube.workflow(NS, wf)["spec"])
        resp = await client.delete(
            "/api/v1/operator/compute", params={"jobId": done, "owner": owner}
        )
        assert resp.status == 200
        assert (NS, wf) not in fake_kube.workflows
        assert (await job_status(client, done))["removed"] == 1
