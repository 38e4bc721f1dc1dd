"""The workflow watcher against the fake API: order, resume, 410 relist, bookmarks, resync."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable

import pytest

from operator_argo.domain.errors import InvalidRequest, Unavailable
from operator_argo.domain.names import workflow_name
from operator_argo.domain.observation import Observation, Phase
from operator_argo.engines.argo.client import KubeClient
from operator_argo.engines.argo.watcher import WorkflowWatcher
from tests.fakes.kube import FakeKube, ObservationRecorder, sample_workflow

NS = "ocean-compute"
WF = workflow_name("job1")


@pytest.fixture
def recorder() -> ObservationRecorder:
    return ObservationRecorder()


@pytest.fixture
async def start_watcher(
    kube_client: KubeClient, fake_kube: FakeKube, recorder: ObservationRecorder
) -> AsyncIterator[Callable[..., object]]:
    tasks: list[asyncio.Task[None]] = []

    async def start(sink: object = None, **options: float) -> WorkflowWatcher:
        options.setdefault("resync_interval", 30.0)
        options.setdefault("backoff_base", 0.05)
        watcher = WorkflowWatcher(kube_client, NS, sink or recorder, **options)  # type: ignore[arg-type]
        before = fake_kube.watch_count
        tasks.append(asyncio.create_task(watcher.run(), name="test-watcher"))
        await fake_kube.wait_watches(before + 1)
        return watcher

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def step_phases(obs: Observation) -> tuple[str | None, ...]:
    names = ("configure", "algorithm", "publish")  # these workflows have no filtering step
    steps = [obs.steps[name].phase.value if name in obs.steps else "-" for name in names]
    return (obs.phase.value if obs.phase else None, *steps)


def play_success(kube: FakeKube, name: str = WF) -> None:
    """Argo running a job that works, one status write at a time."""
    kube.set_step(NS, name, "configure", "Running")
    kube.set_step(
        NS, name, "configure", "Succeeded", exit_code=0, result={"inputs": [], "error": None}
    )
    kube.set_step(NS, name, "algorithm", "Running")
    kube.set_step(NS, name, "algorithm", "Succeeded", exit_code=0)
    kube.set_step(NS, name, "publish", "Running")
    files = [{"filename": "out.txt", "filesize": 3, "type": "output", "key": "job1/out.txt"}]
    kube.set_step(
        NS, name, "publish", "Succeeded", exit_code=0, result={"files": files, "error": None}
    )
    kube.finish(NS, name, "Succeeded")


EXPECTED_SUCCESS = [
    (None, "-", "-", "-"),  # ADDED: Argo has not touched it yet (empty phase)
    ("Running", "Running", "-", "-"),
    ("Running", "Succeeded", "-", "-"),
    ("Running", "Succeeded", "Running", "-"),
    ("Running", "Succeeded", "Succeeded", "-"),
    ("Running", "Succeeded", "Succeeded", "Running"),
    ("Running", "Succeeded", "Succeeded", "Succeeded"),
    ("Succeeded", "Succeeded", "Succeeded", "Succeeded"),
]


def normalise(rows: list[tuple[str | None, ...]]) -> list[tuple[str | None, ...]]:
    # A fresh workflow has no phase; Phase.parse reads that as Pending.
    return [(None if row[0] == "Pending" else row[0], *row[1:]) for row in rows]


async def test_happy_path_in_order(
    fake_kube: FakeKube, recorder: ObservationRecorder, start_watcher
) -> None:
    await start_watcher()
    fake_kube.add_workflow(NS, sample_workflow("job1"))
    play_success(fake_kube)
    final = await recorder.wait_for(lambda obs: obs.finished)
    assert normalise([step_phases(obs) for obs in recorder.of(WF)]) == EXPECTED_SUCCESS
    assert final.job_id == "job1"
    publish = final.steps["publish"]
    assert publish.output is not None and publish.output["files"][0]["filename"] == "out.txt"
    assert final.steps["configure"].exit_code == 0


@pytest.mark.kube_fake_only
async def test_dropped_watch_resumes_without_loss_or_repeats(
    fake_kube: FakeKube, recorder: ObservationRecorder, start_watcher
) -> None:
    watcher = await start_watcher()
    fake_kube.add_workflow(NS, sample_workflow("job1"))
    await recorder.wait_for(lambda obs: obs.workflow_name == WF)
    resume_from = watcher.resource_version
    # Cut the connection and change things before the watcher can reconnect (no await between).
    fake_kube.drop_watches()
    play_success(fake_kube)
    await recorder.wait_for(lambda obs: obs.finished)
    assert normalise([step_phases(obs) for obs in recorder.of(WF)]) == EXPECTED_SUCCESS
    assert watcher.relists == 1  # resumed, not relisted
    assert any(f"resourceVersion={resume_from}" in path for _, path in fake_kube.requests)


@pytest.mark.kube_fake_only
async def test_gone_relists_and_reports_current_state(
    fake_kube: FakeKube, recorder: ObservationRecorder, start_watcher
) -> None:
    watcher = await start_watcher()
    fake_kube.add_workflow(NS, sample_workflow("job1"))
    await recorder.wait_for(lambda obs: obs.workflow_name == WF)
    fake_kube.drop_watches()
    play_success(fake_kube)
    fake_kube.compact()  # the events between are lost to the watcher: 410 on resume
    final = await recorder.wait_for(lambda obs: obs.finished)
    assert watcher.relists == 2
    assert final.steps["publish"].phase is Phase.SUCCEEDED
    assert watcher.resource_version == str(fake_kube.rv)


@pytest.mark.kube_fake_only
async def test_bookmarks_move_the_resource_version(
    fake_kube: FakeKube, recorder: ObservationRecorder, start_watcher
) -> None:
    watcher = await start_watcher()
    fake_kube.add_workflow("elsewhere", sample_workflow("other"))
    fake_kube.add_workflow("elsewhere", sample_workflow("other2"))
    target = str(fake_kube.rv)
    fake_kube.send_bookmark()
    async with asyncio.timeout(5):
        while watcher.resource_version != target:
            await asyncio.sleep(0.02)
    assert recorder.seen == []


@pytest.mark.kube_fake_only
async def test_duplicate_and_out_of_order_events_are_dropped(
    fake_kube: FakeKube, recorder: ObservationRecorder, start_watcher
) -> None:
    await start_watcher()
    fake_kube.add_workflow(NS, sample_workflow("job1"))
    fake_kube.set_step(NS, WF, "configure", "Running")
    older = copy.deepcopy(fake_kube.workflow(NS, WF))
    fake_kube.set_step(NS, WF, "configure", "Succeeded", exit_code=0)
    latest = copy.deepcopy(fake_kube.workflow(NS, WF))
    await recorder.wait_for(
        lambda obs: "configure" in obs.steps and obs.steps["configure"].phase.is_done
    )
    count = len(recorder.seen)
    fake_kube.inject_event(NS, "MODIFIED", latest)  # duplicate
    fake_kube.inject_event(NS, "MODIFIED", older)  # out of order
    fake_kube.set_step(NS, WF, "algorithm", "Running")
    await recorder.wait_for(lambda obs: "algorithm" in obs.steps)
    assert len(recorder.seen) == count + 1
    assert recorder.seen[-1].steps["configure"].phase is Phase.SUCCEEDED


async def test_deleted_behind_our_back(
    fake_kube: FakeKube, recorder: ObservationRecorder, start_watcher
) -> None:
    await start_watcher()
    fake_kube.add_workflow(NS, sample_workflow("job1"))
    fake_kube.set_step(NS, WF, "configure", "Running")
    fake_kube.add_workflow(NS, sample_workflow("done"))
    fake_kube.finish(NS, workflow_name("done"), "Succeeded")
    await recorder.wait_for(lambda obs: obs.workflow_name == workflow_name("done") and obs.finished)
    fake_kube.delete_behind(NS, WF)
    fake_kube.delete_behind(NS, workflow_name("done"))
    deleted = await recorder.wait_for(lambda obs: obs.deleted)
    assert (deleted.workflow_name, deleted.job_id) == (WF, "job1")
    await recorder.wait_for(
        lambda obs: (
            obs.workflow_name == workflow_name("done")
            and len(recorder.of(workflow_name("done"))) == 3
        )
    )
    last_done = recorder.of(workflow_name("done"))[-1]
    assert (
        last_done.phase is Phase.SUCCEEDED
    )  # finished ones report their last state, not "deleted"
    assert [obs.deleted for obs in recorder.seen].count(True) == 1


@pytest.mark.kube_fake_only
async def test_vanished_during_relist_is_reported_deleted(
    fake_kube: FakeKube, recorder: ObservationRecorder, start_watcher
) -> None:
    watcher = await start_watcher()
    fake_kube.add_workflow(NS, sample_workflow("job1"))
    fake_kube.set_step(NS, WF, "algorithm", "Running")
    await recorder.wait_for(lambda obs: "algorithm" in obs.steps)
    fake_kube.drop_watches()
    fake_kube.delete_behind(NS, WF)
    fake_kube.compact()
    deleted = await recorder.wait_for(lambda obs: obs.deleted)
    assert deleted.workflow_name == WF
    assert watcher.relists == 2
    assert WF not in watcher.objects


async def test_resync_reports_everything_again(
    fake_kube: FakeKube, recorder: ObservationRecorder, start_watcher
) -> None:
    fake_kube.add_workflow(NS, sample_workflow("job1"))
    fake_kube.set_step(NS, WF, "configure", "Running")
    watcher = await start_watcher(resync_interval=1.0)
    await recorder.wait_for(lambda obs: len(recorder.of(WF)) >= 3, timeout=6)
    assert watcher.relists >= 3
    assert {step_phases(obs) for obs in recorder.of(WF)} == {("Running", "Running", "-", "-")}


async def test_a_sink_that_cannot_store_now_gets_the_observation_again(
    fake_kube: FakeKube, start_watcher
) -> None:
    good = ObservationRecorder()
    offered: list[Observation] = []

    async def flaky(obs: Observation) -> None:
        offered.append(obs)
        if len(offered) == 1:
            raise Unavailable("the database is not reachable")
        await good(obs)

    await start_watcher(flaky)
    fake_kube.add_workflow(NS, sample_workflow("job1"))
    obs = await good.wait_for(lambda obs: obs.workflow_name == WF)
    assert offered[0] == obs  # the refused observation came again, not a later one
    fake_kube.set_step(NS, WF, "configure", "Running")
    await good.wait_for(lambda obs: "configure" in obs.steps)


async def test_a_sink_refusing_one_observation_for_good_does_not_stop_the_loop(
    fake_kube: FakeKube, start_watcher
) -> None:
    good = ObservationRecorder()
    calls = 0

    async def refuses_once(obs: Observation) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise InvalidRequest("a workflow the reconciler cannot read")
        await good(obs)

    await start_watcher(refuses_once)
    fake_kube.add_workflow(NS, sample_workflow("job1"))
    fake_kube.set_step(NS, WF, "configure", "Running")
    obs = await good.wait_for(lambda obs: "configure" in obs.steps)
    assert calls == 2 and obs.workflow_name == WF


@pytest.mark.kube_fake_only
async def test_list_failures_back_off_then_recover(
    fake_kube: FakeKube, recorder: ObservationRecorder, start_watcher
) -> None:
    fake_kube.add_workflow(NS, sample_workflow("job1"))
    fake_kube.fail_next(3, 503, method="GET", path_contains="/workflows?labelSelector")
    watcher = await start_watcher()
    await recorder.wait_for(lambda obs: obs.workflow_name == WF)
    failed = [path for _, path in fake_kube.requests if "watch" not in path]
    assert len(failed) == 4 and watcher.relists == 1
