"""Status parsing of real Argo Workflow objects (tests/data/argo/fixtures) and of odd ones."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import gzip
import json
from typing import Any

import pytest
import yaml

from operator_argo.domain.deadlines import OVERDUE_GRACE
from operator_argo.domain.names import workflow_name
from operator_argo.domain.observation import Phase
from operator_argo.engines.argo.status import (
    WorkflowState,
    classify_workflow,
    is_stuck,
    overdue_observation,
    parse_time,
    parse_workflow,
)
from tests.kit.data import ARGO_FIXTURES as FIXTURES

EXPECTED = {
    "01": WorkflowState.SUCCEEDED,
    "02": WorkflowState.SUCCEEDED,
    "03": WorkflowState.FAILED,
    "04": WorkflowState.FAILED,
    "05": WorkflowState.FAILED,
    "06": WorkflowState.ERROR,
    "07": WorkflowState.CANCELLING,
    "08": WorkflowState.STUCK,
    "09": WorkflowState.RUNNING,
    "10": WorkflowState.RUNNING,
    "11": WorkflowState.FAILED,
}


def load(prefix: str) -> dict[str, Any]:
    (path,) = FIXTURES.glob(f"{prefix}-*.yaml")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rename_templates(obj: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    for node in obj["status"]["nodes"].values():
        if node.get("templateName") in names:
            node["templateName"] = names[node["templateName"]]
    return obj


def test_every_fixture_is_there() -> None:
    assert sorted(path.name[:2] for path in FIXTURES.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("prefix", sorted(EXPECTED))
def test_fixture_classification(prefix: str) -> None:
    obj = load(prefix)
    obs = parse_workflow(obj)
    state = classify_workflow(obj)
    assert state is EXPECTED[prefix]
    assert obs.workflow_name == obj["metadata"]["name"]
    finished = state in (WorkflowState.SUCCEEDED, WorkflowState.FAILED, WorkflowState.ERROR)
    assert obs.finished is (finished or state is WorkflowState.STUCK)
    assert obs.stopping is (state is WorkflowState.CANCELLING)


def test_stuck_workflow_is_reported_finished_with_a_reason() -> None:
    obj = load("08")
    assert obj["status"]["phase"] == "Running" and is_stuck(obj)
    obs = parse_workflow(obj)
    assert obs.phase is Phase.ERROR
    assert obs.message == (
        "Argo marked the workflow completed but left its phase Running: "
        "Stopped with strategy 'Stop'"
    )
    assert obs.finished_at == dt.datetime(2024, 2, 4, 8, 44, 20, tzinfo=dt.UTC)


def test_unquoted_timestamps_become_aware_datetimes() -> None:
    obj = load("05")  # PyYAML already turned these into datetime objects
    obs = parse_workflow(obj)
    assert obs.started_at is not None and obs.started_at.tzinfo is not None
    assert obs.finished_at == dt.datetime(2019, 6, 26, 9, 12, 46, tzinfo=dt.UTC)


def test_failed_step_of_a_real_capture() -> None:
    obj = rename_templates(load("03"), {"fail": "algorithm", "pass": "configure"})
    obs = parse_workflow(obj)
    algorithm, configure = obs.steps["algorithm"], obs.steps["configure"]
    assert (algorithm.phase, algorithm.exit_code, algorithm.message) == (
        Phase.FAILED,
        1,
        "failed with exit code 1",
    )
    assert (configure.phase, configure.exit_code) == (Phase.SUCCEEDED, 0)
    assert algorithm.finished_at is not None and not algorithm.oom_killed


def test_exit_handler_nodes_are_found_by_template_name() -> None:
    obj = rename_templates(load("04"), {"intentional-fail": "algorithm", "cry": "publish"})
    obs = parse_workflow(obj)
    publish_node = next(
        n for n in obj["status"]["nodes"].values() if n.get("templateName") == "publish"
    )
    assert ".onExit" in publish_node["name"]
    assert obs.steps["publish"].phase is Phase.SUCCEEDED
    assert obs.steps["algorithm"].message == "main: Error (exit code 1)"
    assert obs.steps["algorithm"].exit_code == 1


def test_skipped_and_omitted_nodes() -> None:
    obj = rename_templates(load("04"), {"celebrate": "algorithm"})
    assert parse_workflow(obj).steps["algorithm"].phase is Phase.SKIPPED
    obj = load("11")
    omitted = next(n for n in obj["status"]["nodes"].values() if n["phase"] == "Omitted")
    omitted["templateName"] = "publish"
    assert parse_workflow(obj).steps["publish"].phase is Phase.OMITTED
    # A Pod node outranks a Skipped node of the same template.
    pod = next(n for n in obj["status"]["nodes"].values() if n["type"] == "Pod")
    pod["templateName"] = "publish"
    assert parse_workflow(obj).steps["publish"].phase is Phase(pod["phase"])


def test_compressed_nodes_read_like_plain_nodes() -> None:
    obj = rename_templates(load("03"), {"fail": "algorithm", "pass": "configure"})
    packed = copy.deepcopy(obj)
    nodes = packed["status"].pop("nodes")
    raw = gzip.compress(json.dumps(nodes).encode())
    packed["status"]["compressedNodes"] = base64.b64encode(raw).decode()
    assert parse_workflow(packed) == parse_workflow(obj)
    packed["status"]["compressedNodes"] = "not base64 gzip!"
    assert parse_workflow(packed).steps == {}


def node(template: str, **fields: Any) -> dict[str, Any]:
    return {"type": "Pod", "templateName": template, "phase": "Failed", **fields}


def test_step_outputs_messages_and_garbage() -> None:
    result = {"files": [{"filename": "a", "filesize": 1, "type": "output"}], "error": None}
    obj = {
        "metadata": {"name": workflow_name("abc"), "labels": {}},
        "spec": {"shutdown": "Stop"},
        "status": {
            "phase": "Running",
            "finishedAt": None,
            "nodes": {
                "x": "not a node",
                "stub": {"id": "", "type": "", "outputs": {}},
                "p": node(
                    "publish",
                    outputs={"parameters": [{"name": "result", "value": json.dumps(result)}]},
                ),
                "a": node(
                    "algorithm",
                    message="OOMKilled (exit code 137)",
                    outputs={"exitCode": "137"},
                    startedAt="2026-01-01T00:00:00Z",
                ),
                "c": node(
                    "configure",
                    message="Step exceeded its deadline",
                    outputs={
                        "exitCode": "abc",
                        "parameters": [{"name": "result", "value": "{oops"}],
                    },
                ),
            },
        },
    }
    obs = parse_workflow(obj)
    assert obs.job_id == "abc" and obs.stopping and not obs.finished
    assert obs.steps["publish"].output == result
    algorithm = obs.steps["algorithm"]
    assert algorithm.oom_killed and algorithm.exit_code == 137 and not algorithm.deadline_exceeded
    configure = obs.steps["configure"]
    assert configure.deadline_exceeded and configure.exit_code is None and configure.output is None


def test_retried_step_reports_the_latest_pod() -> None:
    first = node("algorithm", startedAt="2026-01-01T00:00:00Z", outputs={"exitCode": "1"})
    second = node("algorithm", phase="Running", startedAt="2026-01-01T00:05:00Z")
    retry = {"type": "Retry", "templateName": "algorithm", "phase": "Running"}
    obj = {
        "metadata": {"name": workflow_name("r")},
        "status": {"nodes": {"1": first, "2": second, "r": retry}},
    }
    assert parse_workflow(obj).steps["algorithm"].phase is Phase.RUNNING


@pytest.mark.parametrize("odd", [{}, {"status": "x", "metadata": []}, {"status": {"nodes": []}}])
def test_odd_objects_never_raise(odd: dict[str, Any]) -> None:
    obs = parse_workflow(odd)
    assert obs.phase is Phase.PENDING and obs.steps == {} and obs.job_id == ""


def test_parse_time_variants() -> None:
    assert parse_time("2024-02-04T08:44:20Z") == dt.datetime(2024, 2, 4, 8, 44, 20, tzinfo=dt.UTC)
    assert parse_time(dt.datetime(2024, 1, 1)) == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert parse_time(None) is None and parse_time("") is None and parse_time("yesterday") is None


def test_overdue_running_workflow() -> None:
    obj = load("10")  # activeDeadlineSeconds: 3, still Running
    started = parse_workflow(obj).started_at
    assert started is not None
    just_in_grace = started + dt.timedelta(seconds=3 + OVERDUE_GRACE - 1)
    assert overdue_observation(obj, just_in_grace) is None
    overdue = overdue_observation(obj, just_in_grace + dt.timedelta(seconds=1))
    assert overdue is not None and overdue.finished and overdue.deadline_exceeded
    assert overdue.message is not None
    assert f"{OVERDUE_GRACE}s past its 3s deadline" in overdue.message
    assert overdue_observation(load("01"), started + dt.timedelta(days=9999)) is None
