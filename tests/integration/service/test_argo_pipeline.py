"""The whole operator on the Argo engine: HTTP API, real database, scheduler, the real Kubernetes
client against the fake API server, watcher and reconciler. The test plays the Argo controller."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from operator_argo.config import Settings
from operator_argo.domain.environment import Environment, FilterStep, KeySource
from operator_argo.domain.names import workflow_name
from operator_argo.store.jobs import PostgresJobStore
from tests.fakes.kube import FakeKube, fake_kube
from tests.fakes.receiver import NoticeReceiver
from tests.kit.data import OCEAN_EXAMPLES
from tests.kit.factories import new_job
from tests.kit.store import claim_next
from tests.operatorkit import eventually, job_status, running_operator, start_job, status_is

__all__ = ["fake_kube"]

NS = "ocean-compute"
EXAMPLES = OCEAN_EXAMPLES


def raw_request() -> dict[str, Any]:
    body = json.loads((EXAMPLES / "POST-compute.request.provider-v2.1.6.raw-algo.json").read_text())
    body.pop("_comment")
    body["environment"] = NS
    body["agreementId"] = "0x" + body["agreementId"][2:34]
    body["validUntil"] = int(time.time()) + 3600  # the example's own is long past (preflight)
    return body


@pytest.fixture
def argo_settings(
    settings_factory: Callable[..., Settings], fake_kube: FakeKube, tmp_path: Path
) -> Settings:
    return settings_factory(
        engine="argo",
        kubeconfig=str(fake_kube.write_kubeconfig(tmp_path / "kubeconfig")),
        scheduler_interval=0.05,
        resync_interval=30.0,
        environments=(Environment(id=NS, namespace=NS, max_job_duration=60, max_jobs=1),),
    )


async def submitted(
    client: TestClient, fake_kube: FakeKube, body: dict[str, Any]
) -> tuple[str, str]:
    """POST /compute, then wait until the scheduler created the job's workflow."""
    job_id = await start_job(client, body)
    workflow = workflow_name(job_id)
    await eventually(lambda: (NS, workflow) in fake_kube.workflows)
    return job_id, workflow


def published(job_id: str, results_dir: Path) -> dict[str, Any]:
    """What the publish step reports, with the files really in local result storage."""
    files = []
    for name, kind, text in (
        ("result.txt", "output", "hello"),
        ("publish.log", "publishLog", "done\n"),
    ):
        path = results_dir / job_id / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        files.append(
            {"filename": name, "filesize": len(text), "type": kind, "key": f"{job_id}/{name}"}
        )
    return {"files": files, "error": None}


async def test_a_job_walks_every_status_and_its_workflow_is_collected(
    argo_settings: Settings, fake_kube: FakeKube
) -> None:
    async with running_operator(argo_settings) as (runtime, client):
        job_id, wf = await submitted(client, fake_kube, raw_request())
        labels = fake_kube.workflow(NS, wf)["metadata"]["labels"]
        assert labels["operator-argo/job-id"] == job_id

        fake_kube.set_step(NS, wf, "configure", "Running")
        await eventually(status_is(client, job_id, 20))
        fake_kube.set_step(NS, wf, "configure", "Succeeded", exit_code=0, result={"error": None})
        await eventually(status_is(client, job_id, 30))
        fake_kube.set_step(NS, wf, "algorithm", "Running")
        await eventually(status_is(client, job_id, 40))
        fake_kube.set_step(NS, wf, "algorithm", "Succeeded", exit_code=0)
        fake_kube.set_step(NS, wf, "publish", "Running")
        await eventually(status_is(client, job_id, 60))
        assert (await job_status(client, job_id))["dateFinished"] is None
        result = published(job_id, argo_settings.results_dir)
        fake_kube.set_step(NS, wf, "publish", "Succeeded", exit_code=0, result=result)
        fake_kube.finish(NS, wf, "Succeeded")
        await eventually(status_is(client, job_id, 70))

        job = await job_status(client, job_id)
        assert job["dateFinished"] is not None and job["stopreq"] == 0
        assert job["results"] == [
            {"filename": "result.txt", "filesize": 5, "type": "output"},
            {"filename": "publish.log", "filesize": 5, "type": "publishLog"},
        ]
        assert job["terminationDetails"]["exitCode"] == 0
        history = [s for s, _ in await runtime.store.status_history(job_id)]
        assert history == [1, 20, 30, 40, 60, 70]
        # Persist, then GC: once the job's end is stored, Argo keeps the finished workflow for
        # OPERATOR_KEEP_FINISHED and then removes it itself.
        await eventually(lambda: "ttlStrategy" in fake_kube.workflow(NS, wf)["spec"])
        assert fake_kube.workflow(NS, wf)["spec"]["ttlStrategy"]["secondsAfterSuccess"] == 3600

        resp = await client.get(
            "/api/v1/operator/getResult",
            params={"jobId": job_id, "index": "0", "owner": raw_request()["owner"]},
        )
        assert resp.status == 200 and await resp.read() == b"hello"


async def test_configure_failure_and_algorithm_deadline(
    argo_settings: Settings, fake_kube: FakeKube
) -> None:
    async with running_operator(argo_settings) as (runtime, client):
        failed, wf = await submitted(client, fake_kube, raw_request())
        fake_kube.set_step(
            NS, wf, "configure", "Failed", exit_code=32, message="Error (exit code 32)"
        )
        fake_kube.set_step(NS, wf, "publish", "Running")
        # While publish uploads the logs the job stays at 20: 60 and then 32 would go backwards.
        await eventually(status_is(client, failed, 20))
        fake_kube.set_step(
            NS, wf, "publish", "Succeeded", exit_code=0, result={"files": [], "error": None}
        )
        fake_kube.finish(NS, wf, "Failed")
        await eventually(status_is(client, failed, 32))
        history = [s for s, _ in await runtime.store.status_history(failed)]
        assert history == [1, 20, 32]

        late = await start_job(client, raw_request() | {"agreementId": "0x" + "e" * 32})
        wf = workflow_name(late)
        await eventually(lambda: (NS, wf) in fake_kube.workflows)  # admitted once the first ended
        fake_kube.set_step(NS, wf, "configure", "Succeeded", exit_code=0)
        fake_kube.set_step(
            NS,
            wf,
            "algorithm",
            "Failed",
            message="Pod was active on the node longer than the specified deadline",
        )
        fake_kube.set_step(
            NS, wf, "publish", "Succeeded", exit_code=0, result={"files": [], "error": None}
        )
        fake_kube.finish(NS, wf, "Failed")
        await eventually(status_is(client, late, 70))
        assert (await job_status(client, late))["stopreq"] == 2


async def test_stop_while_queued_and_while_running(
    argo_settings: Settings, fake_kube: FakeKube
) -> None:
    async with running_operator(argo_settings) as (_, client):
        running, wf = await submitted(client, fake_kube, raw_request())
        queued = await start_job(
            client, raw_request() | {"agreementId": "0x" + "f" * 32}
        )  # maxJobs = 1

        resp = await client.put("/api/v1/operator/compute", params={"jobId": queued})
        assert resp.status == 200
        (stopped,) = await resp.json()
        assert (stopped["status"], stopped["stopreq"]) == (70, 1) and stopped["dateFinished"]
        assert (NS, workflow_name(queued)) not in fake_kube.workflows

        fake_kube.set_step(NS, wf, "configure", "Succeeded", exit_code=0)
        fake_kube.set_step(NS, wf, "algorithm", "Running")
        await eventually(status_is(client, running, 40))
        resp = await client.put("/api/v1/operator/compute", params={"jobId": running})
        assert resp.status == 200 and (await resp.json())[0]["stopreq"] == 1
        await eventually(lambda: fake_kube.workflow(NS, wf)["spec"].get("shutdown") == "Stop")
        # The controller stops the algorithm and still runs the exit handler.
        fake_kube.set_step(NS, wf, "algorithm", "Failed", message="Stopped with strategy 'Stop'")
        fake_kube.set_step(
            NS,
            wf,
            "publish",
            "Succeeded",
            exit_code=0,
            result=published(running, argo_settings.results_dir),
        )
        fake_kube.finish(NS, wf, "Failed", message="Stopped with strategy 'Stop'")
        await eventually(status_is(client, running, 70))
        job = await job_status(client, running)
        assert job["stopreq"] == 1 and len(job["results"]) == 2
        assert (NS, workflow_name(queued)) not in fake_kube.workflows


async def test_a_restarted_operator_finishes_the_job_with_exactly_one_workflow(
    argo_settings: Settings, fake_kube: FakeKube
) -> None:
    async with running_operator(argo_settings) as (_, client):
        job_id, wf = await submitted(client, fake_kube, raw_request())
        fake_kube.set_step(NS, wf, "configure", "Succeeded", exit_code=0)
        fake_kube.set_step(NS, wf, "algorithm", "Running")
        await eventually(status_is(client, job_id, 40))

    # While the operator is down, the workflow goes on and ends.
    fake_kube.set_step(NS, wf, "algorithm", "Failed", exit_code=1, message="Error (exit code 1)")
    fake_kube.set_step(
        NS,
        wf,
        "publish",
        "Succeeded",
        exit_code=0,
        result=published(job_id, argo_settings.results_dir),
    )
    fake_kube.finish(NS, wf, "Failed")

    async with running_operator(argo_settings) as (_, client):
        await eventually(status_is(client, job_id, 70))
        job = await job_status(client, job_id)
        assert job["terminationDetails"]["exitCode"] == 1
        await eventually(lambda: "ttlStrategy" in fake_kube.workflow(NS, wf)["spec"])
    creates = [
        path for method, path in fake_kube.requests if method == "POST" and "/workflows" in path
    ]
    assert len(creates) == 1


async def test_a_workflow_deleted_behind_our_back_ends_the_job(
    argo_settings: Settings, fake_kube: FakeKube
) -> None:
    async with running_operator(argo_settings) as (_, client):
        job_id, wf = await submitted(client, fake_kube, raw_request())
        fake_kube.set_step(NS, wf, "configure", "Running")
        await eventually(status_is(client, job_id, 20))
        fake_kube.delete_behind(NS, wf)
        await eventually(status_is(client, job_id, 70))
        assert (await job_status(client, job_id))["dateFinished"] is not None


async def test_a_cluster_outage_keeps_jobs_queued_until_it_ends(
    argo_settings: Settings, fake_kube: FakeKube
) -> None:
    fake_kube.fail_next(3, 503, method="POST")
    async with running_operator(argo_settings) as (runtime, client):
        job_id = await start_job(client, raw_request())
        wf = workflow_name(job_id)
        await eventually(lambda: (NS, wf) in fake_kube.workflows, timeout=20)

        async def recorded() -> bool:
            job = await runtime.store.get_job(job_id)
            return job is not None and job.status == 1 and job.workflow_name == wf

        await eventually(recorded)
        assert [p for m, p in fake_kube.requests if m == "POST"].count(
            f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/workflows"
        ) == 4  # three refused, one accepted


async def test_a_claim_never_recorded_before_a_crash_is_submitted_at_start(
    argo_settings: Settings, fake_kube: FakeKube, job_store: PostgresJobStore
) -> None:
    # The previous operator claimed the job and died before recording (or even creating) its
    # workflow: the job counts against maxJobs but no workflow will ever report on it.
    job = await job_store.insert_job(new_job(NS))
    assert await claim_next(job_store, NS, 1) is not None
    async with running_operator(argo_settings) as (runtime, _):
        wf = workflow_name(job.job_id)
        await eventually(lambda: (NS, wf) in fake_kube.workflows)

        async def recorded() -> bool:
            stored = await runtime.store.get_job(job.job_id)
            return stored is not None and stored.workflow_name == wf

        await eventually(recorded)


async def test_a_filtered_job_shows_50_and_a_failed_filter_ends_it_with_the_logs_only(
    argo_settings: Settings, fake_kube: FakeKube
) -> None:
    step = FilterStep(image="filters/rows:1", command=("python", "/filter.py"), timeout=120)
    environment = dataclasses.replace(argo_settings.environments[0], filter=step)
    settings = dataclasses.replace(argo_settings, environments=(environment,))
    async with running_operator(settings) as (runtime, client):
        job_id, wf = await submitted(client, fake_kube, raw_request())
        fake_kube.set_step(NS, wf, "configure", "Succeeded", exit_code=0, result={"error": None})
        fake_kube.set_step(NS, wf, "algorithm", "Running")
        await eventually(status_is(client, job_id, 40))
        fake_kube.set_step(NS, wf, "algorithm", "Succeeded", exit_code=0)
        fake_kube.set_step(NS, wf, "filter", "Running")
        await eventually(status_is(client, job_id, 50))
        assert (await job_status(client, job_id))["statusText"] == "Filtering results"
        fake_kube.set_step(NS, wf, "filter", "Failed", exit_code=3, message="Error (exit code 3)")
        fake_kube.set_step(NS, wf, "publish", "Running")
        await eventually(status_is(client, job_id, 60))
        logs_only = {"files": published(job_id, settings.results_dir)["files"][1:]}
        fake_kube.set_step(NS, wf, "publish", "Succeeded", exit_code=0, result=logs_only)
        fake_kube.finish(NS, wf, "Failed")
        await eventually(status_is(client, job_id, 70))
        job = await job_status(client, job_id)
        assert [r["type"] for r in job["results"]] == ["publishLog"]
        history = [s for s, _ in await runtime.store.status_history(job_id)]
        assert history == [1, 30, 40, 50, 60, 70]
        stored = await runtime.store.get_job(job_id)
        assert stored is not None and stored.error is not None
        assert "filtering step failed (Error (exit code 3))" in stored.error


async def test_an_argo_job_sends_its_start_and_finish_notices_signed_by_the_environment(
    argo_settings: Settings, fake_kube: FakeKube, tmp_path: Path
) -> None:
    key_file = tmp_path / "environment.key"
    key_file.write_text("7d" * 32 + "\n")  # the operator's mounted copy (the chart's keyFile)
    (environment,) = argo_settings.environments
    receiver = NoticeReceiver()
    await receiver.start()
    settings = dataclasses.replace(
        argo_settings,
        environments=(dataclasses.replace(environment, key=KeySource(file=str(key_file))),),
        notify_start_url=receiver.url("/start"),
        notify_stop_url=receiver.url("/stop"),
        notify_interval=0.05,
    )
    try:
        async with running_operator(settings) as (_, client):
            job_id, wf = await submitted(client, fake_kube, raw_request())
            (start,) = await receiver.wait_for(1)  # sent once claimed, before configure ran
            assert (start.path, start.body["jobId"], start.body["status"]) == ("/start", job_id, 1)
            fake_kube.set_step(NS, wf, "configure", "Succeeded", exit_code=0, result={})
            fake_kube.set_step(NS, wf, "algorithm", "Succeeded", exit_code=0)
            result = published(job_id, settings.results_dir)
            fake_kube.set_step(NS, wf, "publish", "Succeeded", exit_code=0, result=result)
            fake_kube.finish(NS, wf, "Succeeded")
            await eventually(status_is(client, job_id, 70))
            _, finish = await receiver.wait_for(2)
            job = await job_status(client, job_id)
            resp = await client.get("/api/v1/operator/environments")
            address = (await resp.json())[0]["consumerAddress"]
    finally:
        await receiver.stop()
    assert (finish.path, finish.body["status"]) == ("/stop", 70)
    assert finish.body["dateFinished"] == job["dateFinished"]
    assert start.signer == start.claimed == finish.signer == finish.claimed == address
    assert len(receiver.received) == 2
