"""Stage 3: the workflows operator-argo builds, run by Argo's real controller (kwok pods)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from operator_argo.config import Settings
from operator_argo.domain.job import Job
from operator_argo.domain.observation import Observation, Phase
from operator_argo.domain.progress import decide_update
from operator_argo.domain.status import JobStatus, StopReason
from operator_argo.engines.argo.builder_request import job_from_request
from operator_argo.engines.argo.client import KubeClient
from operator_argo.engines.argo.manifest import TEMPLATE_SETTINGS, render_workflow
from operator_argo.engines.argo.status import parse_workflow
from tests.cluster.argo_cluster import PodPlayer, running_argo
from tests.cluster.control_plane import ControlPlane
from tests.cluster.rbac import apply_objects, ensure_namespaces, jobs_in, render_rbac

NS = "ocean-compute"
REQUESTS = Path(__file__).resolve().parents[2] / "templates" / "requests"
CONFIGURED = {"inputs": [], "algorithm": {"ok": True}, "error": None}
PUBLISHED = {"files": [{"filename": "algorithm.log", "filesize": 3, "type": "logs"}], "error": None}


@pytest.fixture(scope="module")
def argo(real_kube: ControlPlane) -> Iterator[PodPlayer]:
    ensure_namespaces(real_kube, "operator-system", NS)
    # The chart's accounts and roles, as an install makes them (the executor account included).
    apply_objects(real_kube, render_rbac("op", "operator-system", jobs_in(NS)))
    with running_argo(real_kube, (NS,)) as player:
        yield player


@pytest.fixture
def player(argo: PodPlayer) -> PodPlayer:
    argo.exit_codes.clear()
    argo.hold.clear()
    argo.results.clear()
    argo.results.update(configure=CONFIGURED, publish=PUBLISHED)
    return argo


@pytest.fixture
async def client(real_kube: ControlPlane) -> AsyncIterator[KubeClient]:
    kube = await KubeClient.connect(Settings(engine="argo", kubeconfig=str(real_kube.kubeconfig)))
    yield kube
    await kube.close()


async def submit(client: KubeClient) -> tuple[str, Job]:
    """Submit what the operator builds for the reference request; return it and its job."""
    body = json.loads((REQUESTS / "raw-algo.json").read_text())
    job_id, now = uuid.uuid4().hex, dt.datetime.now(dt.UTC)
    workflow = render_workflow(body, TEMPLATE_SETTINGS, job_id=job_id, now=now)
    created = await client.create_workflow(NS, workflow)
    job = job_from_request(body, job_id=job_id, now=now)
    return str(created["metadata"]["name"]), job


async def until(
    client: KubeClient, name: str, done: Any, timeout: float = 120
) -> tuple[Observation, dict[str, Any]]:
    async with asyncio.timeout(timeout):
        while True:
            obj = await client.get_workflow(NS, name)
            observation = parse_workflow(obj)
            if done(observation):
                return observation, obj
            await asyncio.sleep(0.5)


def phases(observation: Observation) -> dict[str, Phase]:
    return {name: step.phase for name, step in observation.steps.items()}


async def test_a_job_succeeds_through_all_three_steps(
    client: KubeClient, player: PodPlayer
) -> None:
    name, job = await submit(client)
    final, obj = await until(client, name, lambda o: o.phase.is_done)
    assert final.phase is Phase.SUCCEEDED, obj["status"].get("message")
    assert phases(final) == dict.fromkeys(("configure", "algorithm", "publish"), Phase.SUCCEEDED)
    assert final.steps["publish"].output == PUBLISHED
    update = decide_update(job, final)
    assert update is not None and update.finished
    assert (update.status, update.stopreq, update.error) == (JobStatus.FINISHED, None, None)
    assert [f.filename for f in update.results or ()] == ["algorithm.log"]


async def test_algorithm_failure_still_publishes(client: KubeClient, player: PodPlayer) -> None:
    player.exit_codes["algorithm"] = 3
    name, job = await submit(client)
    final, obj = await until(client, name, lambda o: o.phase.is_done)
    assert final.phase is Phase.FAILED, obj["status"].get("message")
    assert final.steps["algorithm"].phase is Phase.FAILED
    assert final.steps["algorithm"].exit_code == 3
    assert final.steps["publish"].phase is Phase.SUCCEEDED  # the exit handler ran
    update = decide_update(job, final)
    assert update is not None and update.status is JobStatus.FINISHED
    assert update.termination is not None and update.termination.exit_code == 3
    assert [f.filename for f in update.results or ()] == ["algorithm.log"]


async def test_stop_runs_the_exit_handler(client: KubeClient, player: PodPlayer) -> None:
    player.hold.add("algorithm")  # its pod is never scheduled: the job is "running" forever
    name, job = await submit(client)
    await until(client, name, lambda o: "algorithm" in o.steps)
    await client.patch_workflow(NS, name, {"spec": {"shutdown": "Stop"}})
    final, obj = await until(client, name, lambda o: o.phase.is_done)
    assert final.phase in (Phase.FAILED, Phase.ERROR), obj["status"]
    assert final.steps["algorithm"].phase is not Phase.SUCCEEDED
    assert final.steps["publish"].phase is Phase.SUCCEEDED
    stopped = dataclasses.replace(job, stopreq=StopReason.REQUESTED)
    update = decide_update(stopped, final)
    assert update is not None and update.status is JobStatus.FINISHED
    assert [f.filename for f in update.results or ()] == ["algorithm.log"]


async def test_workflow_deadline_ends_the_job_and_publishes(
    client: KubeClient, player: PodPlayer
) -> None:
    player.hold.add("algorithm")
    name, job = await submit(client)
    await until(client, name, lambda o: "algorithm" in o.steps)
    await client.patch_workflow(NS, name, {"spec": {"activeDeadlineSeconds": 3}})
    final, obj = await until(client, name, lambda o: o.phase.is_done)
    assert final.phase is Phase.FAILED, obj["status"]
    # The real controller puts the deadline on the running step's node ("Step exceeded its
    # deadline"); the workflow and root messages only say "child '<node>' failed".
    assert final.steps["algorithm"].deadline_exceeded, final.steps["algorithm"].message
    assert not final.deadline_exceeded, final.message
    assert final.steps["publish"].phase is Phase.SUCCEEDED
    update = decide_update(job, final)
    assert update is not None and update.status is JobStatus.FINISHED
    assert update.stopreq is StopReason.DEADLINE
