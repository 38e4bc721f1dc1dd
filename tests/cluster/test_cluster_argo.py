"""Stage 3: the workflows operator-argo builds, run by Argo's real controller (kwok pods)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from operator_argo.config import Settings
from operator_argo.domain.observation import Observation, Phase
from operator_argo.engines.argo.client import KubeClient
from operator_argo.engines.argo.manifest import TEMPLATE_SETTINGS, render_workflow
from operator_argo.engines.argo.status import parse_workflow
from tests.cluster.argo_cluster import PodPlayer, running_argo
from tests.cluster.control_plane import ControlPlane

NS = "ocean-compute"
REQUESTS = Path(__file__).resolve().parents[2] / "templates" / "requests"
CONFIGURED = {"inputs": [], "algorithm": {"ok": True}, "error": None}
PUBLISHED = {"files": [{"filename": "algorithm.log", "filesize": 3, "type": "logs"}], "error": None}


@pytest.fixture(scope="module")
def argo(real_kube: ControlPlane) -> Iterator[PodPlayer]:
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


async def submit(client: KubeClient) -> str:
    body = json.loads((REQUESTS / "raw-algo.json").read_text())
    job_id = uuid.uuid4().hex
    workflow = render_workflow(body, TEMPLATE_SETTINGS, job_id=job_id, now=dt.datetime.now(dt.UTC))
    created = await client.create_workflow(NS, workflow)
    return str(created["metadata"]["name"])


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
    name = await submit(client)
    final, obj = await until(client, name, lambda o: o.phase.is_done)
    assert final.phase is Phase.SUCCEEDED, obj["status"].get("message")
    assert phases(final) == dict.fromkeys(("configure", "algorithm", "publish"), Phase.SUCCEEDED)
    assert final.steps["publish"].output == PUBLISHED
    assert final.steps["algorithm"].exit_code == 0


async def test_algorithm_failure_still_publishes(client: KubeClient, player: PodPlayer) -> None:
    player.exit_codes["algorithm"] = 3
    name = await submit(client)
    final, obj = await until(client, name, lambda o: o.phase.is_done)
    assert final.phase is Phase.FAILED, obj["status"].get("message")
    assert final.steps["algorithm"].phase is Phase.FAILED
    assert final.steps["algorithm"].exit_code == 3
    assert final.steps["publish"].phase is Phase.SUCCEEDED  # the exit handler ran
    assert final.steps["publish"].output == PUBLISHED


async def test_stop_runs_the_exit_handler(client: KubeClient, player: PodPlayer) -> None:
    player.hold.add("algorithm")  # its pod is never scheduled: the job is "running" forever
    name = await submit(client)
    await until(client, name, lambda o: "algorithm" in o.steps)
    await client.patch_workflow(NS, name, {"spec": {"shutdown": "Stop"}})
    final, obj = await until(client, name, lambda o: o.phase.is_done)
    assert final.phase in (Phase.FAILED, Phase.ERROR), obj["status"]
    assert final.steps["algorithm"].phase is not Phase.SUCCEEDED
    assert final.steps["publish"].phase is Phase.SUCCEEDED


async def test_workflow_deadline_ends_the_job_and_publishes(
    client: KubeClient, player: PodPlayer
) -> None:
    player.hold.add("algorithm")
    name = await submit(client)
    await until(client, name, lambda o: "algorithm" in o.steps)
    await client.patch_workflow(NS, name, {"spec": {"activeDeadlineSeconds": 3}})
    final, obj = await until(client, name, lambda o: o.phase.is_done)
    assert final.phase in (Phase.FAILED, Phase.ERROR), obj["status"]
    assert final.deadline_exceeded, obj["status"].get("message")
    assert final.steps["publish"].phase is Phase.SUCCEEDED
