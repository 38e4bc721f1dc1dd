"""The retry rule against the Kubernetes API: a cluster that refuses the operator (no RBAC, no
namespace) leaves jobs queued, says so in the log and a metric, and they run once it is fixed;
only the refusal of one workflow (422 Invalid) ends that job. Real database, the real Argo
engine and client, the fake API server; the scheduler loop runs in virtual time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import structlog

from operator_argo.config import Settings
from operator_argo.domain.environment import Environment
from operator_argo.domain.names import workflow_name
from operator_argo.domain.status import JobStatus
from operator_argo.engines.argo.engine import ArgoEngine
from operator_argo.observability import metrics
from operator_argo.service.scheduler import Scheduler
from operator_argo.store.jobs import PostgresJobStore
from tests.fakes.kube import FakeKube, fake_kube
from tests.kit.clock import VirtualClock
from tests.kit.factories import new_job
from tests.operatorkit import eventually

__all__ = ["fake_kube"]

NS = "rbac-jobs"
CREATE = f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/workflows"


def submissions(outcome: str) -> float:
    sample = metrics.REGISTRY.get_sample_value(
        "operator_argo_workflow_submissions_total", {"environment": NS, "outcome": outcome}
    )
    return sample or 0.0


@pytest.fixture
def settings(
    settings_factory: Callable[..., Settings], fake_kube: FakeKube, tmp_path: Path
) -> Settings:
    return settings_factory(
        engine="argo",
        kubeconfig=str(fake_kube.write_kubeconfig(tmp_path / "kubeconfig")),
        environments=(Environment(id=NS, namespace=NS, max_job_duration=60, max_jobs=5),),
    )


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[ArgoEngine]:
    engine = await ArgoEngine.from_settings(settings)
    yield engine
    await engine.close()


@pytest.mark.kube_fake_only
@pytest.mark.parametrize(
    ("status", "message"),
    [
        (
            403,
            'workflows.argoproj.io is forbidden: User "system:serviceaccount:op:op" cannot create',
        ),
        (404, f'namespaces "{NS}" not found'),
    ],
    ids=["no-rbac", "no-namespace"],
)
async def test_a_cluster_refusing_the_operator_leaves_jobs_queued_until_it_is_fixed(
    settings: Settings,
    engine: ArgoEngine,
    fake_kube: FakeKube,
    job_store: PostgresJobStore,
    status: int,
    message: str,
) -> None:
    jobs = [await job_store.insert_job(new_job(NS)) for _ in range(3)]
    fake_kube.fail_next(10**6, status, method="POST", path_contains=CREATE, message=message)
    refusals = 4  # scheduler passes, each submitting (and putting back) all three jobs
    clock = VirtualClock(auto=False)
    refused_before = submissions("refused")
    with structlog.testing.capture_logs() as logs:
        loop = asyncio.create_task(Scheduler(settings, job_store, engine, clock=clock).run())
        try:
            for _ in range(refusals - 1):
                await clock.wait_sleeping()  # a pass is over: the loop backs off
                await clock.advance(clock.slept[-1])
            await clock.wait_sleeping()

            # Every job is still queued and unclaimed: nothing ended, nothing holds maxJobs.
            for job in jobs:
                stored = await job_store.get_job(job.job_id)
                assert stored is not None and stored.status is JobStatus.QUEUED
                assert stored.submitted_at is None and stored.date_finished is None
                assert not stored.error
            assert fake_kube.workflows == {}
            # Why, loudly: an error line per pass, and every refused submission counted.
            loud = [e for e in logs if e["event"] == "engine_misconfigured"]
            assert len(loud) == refusals and {e["log_level"] for e in loud} == {"error"}
            assert f"HTTP {status}" in loud[0]["error"] and message in loud[0]["error"]
            assert submissions("refused") - refused_before == refusals * len(jobs)
            assert clock.slept == [1.0, 2.0, 4.0, 8.0]  # the one capped backoff

            # The cluster is fixed (the RoleBinding or the namespace is created): jobs run.
            fake_kube.clear_failures()
            await clock.advance(clock.slept[-1])

            async def all_recorded() -> bool:
                stored = [await job_store.get_job(job.job_id) for job in jobs]
                return all(job is not None and job.workflow_name for job in stored)

            await eventually(all_recorded)
            assert not loop.done(), "the loop lives through the refusals"
        finally:
            loop.cancel()
            await asyncio.gather(loop, return_exceptions=True)
    for job in jobs:
        stored = await job_store.get_job(job.job_id)
        assert stored is not None and stored.workflow_name == workflow_name(job.job_id)
        assert stored.status is JobStatus.QUEUED and stored.submitted_at is not None
        assert (NS, workflow_name(job.job_id)) in fake_kube.workflows


@pytest.mark.kube_fake_only
async def test_only_an_invalid_workflow_ends_its_job(
    settings: Settings, engine: ArgoEngine, fake_kube: FakeKube, job_store: PostgresJobStore
) -> None:
    refused, accepted = [await job_store.insert_job(new_job(NS)) for _ in range(2)]
    fake_kube.fail_next(
        1, 422, method="POST", path_contains=CREATE, message="spec.templates: Invalid value"
    )
    rejected_before = submissions("rejected")
    await Scheduler(settings, job_store, engine).run_once()
    ended = await job_store.get_job(refused.job_id)
    assert ended is not None and ended.status is JobStatus.FINISHED
    assert ended.error is not None and "Invalid value" in ended.error
    assert (NS, workflow_name(accepted.job_id)) in fake_kube.workflows
    assert submissions("rejected") - rejected_before == 1
