"""Reading workflow dicts: the builder's output, DAG order, deadlines, secret refs, bad input."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from operator_argo.config import Settings
from operator_argo.domain.errors import PermanentEngineError
from operator_argo.domain.names import STOP_REASON_ANNOTATION, workflow_name
from operator_argo.engines.argo.builder import build_workflow
from operator_argo.engines.local.workflow import SecretRef, read_workflow
from tests.integration.local.localkit import make_environment, make_job


def _container(name: str, deadline: Any = None) -> dict[str, Any]:
    template: dict[str, Any] = {"name": name, "container": {"image": "x", "command": [name]}}
    if deadline is not None:
        template["activeDeadlineSeconds"] = deadline
    return template


def _workflow(entry: dict[str, Any], **spec: Any) -> dict[str, Any]:
    templates = [entry, *(_container(n) for n in ("configure", "algorithm", "publish"))]
    return {
        "metadata": {"name": workflow_name("x")},
        "spec": {"entrypoint": "main", "templates": templates, **spec},
    }


def test_the_builders_workflow_reads_as_three_steps(settings: Settings) -> None:
    job, environment = make_job("print(1)"), make_environment(max_job_duration=77)
    plan = read_workflow(build_workflow(job, environment, settings))
    assert plan.name == workflow_name(job.job_id)
    assert [t.name for t in plan.main] == ["configure", "algorithm"]
    assert plan.exit_handler is not None and plan.exit_handler.name == "publish"
    configure, algorithm = plan.main
    assert configure.argv == ("operator-argo", "step", "configure")
    assert configure.deadline == settings.configure_timeout and algorithm.deadline == 77
    assert isinstance(configure.env["OPERATOR_ENV_KEY"], SecretRef)
    assert configure.mounts == {"/data", "/admin"} and algorithm.mounts == {"/data"}
    assert plan.deadline is not None and plan.deadline > 77


def test_dag_tasks_run_after_their_dependencies() -> None:
    dag = {
        "name": "main",
        "dag": {
            "tasks": [
                {"name": "b", "template": "algorithm", "depends": "a.Succeeded"},
                {"name": "a", "template": "configure"},
            ]
        },
    }
    plan = read_workflow(_workflow(dag, onExit="publish", activeDeadlineSeconds="90"))
    assert [t.name for t in plan.main] == ["configure", "algorithm"]
    assert plan.deadline == 90.0  # IntOrString


def test_deadlines_may_be_strings_and_zero_means_none() -> None:
    steps = {"name": "main", "steps": [[{"name": "c", "template": "configure"}]]}
    workflow = _workflow(steps)
    workflow["spec"]["templates"][1] = _container("configure", "12")
    workflow["spec"]["templates"][2] = _container("algorithm", 0)
    plan = read_workflow(workflow)
    assert plan.main[0].deadline == 12.0
    assert plan.exit_handler is not None and plan.exit_handler.name == "publish"  # default


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda w: w["spec"].pop("templates"), "not a workflow"),
        (lambda w: w["spec"].update(onExit="nope"), "no exit handler"),
        (lambda w: w["spec"]["templates"][0]["steps"][0][0].update(template="x"), "unknown"),
        (lambda w: w["spec"]["templates"][1]["container"].pop("command"), "no command"),
        (lambda w: w["spec"]["templates"][1].update(activeDeadlineSeconds="soon"), "not a number"),
    ],
)
def test_workflows_this_engine_cannot_run_are_refused(change: Any, message: str) -> None:
    steps = {"name": "main", "steps": [[{"name": "c", "template": "configure"}]]}
    workflow = copy.deepcopy(_workflow(steps))
    change(workflow)
    with pytest.raises(PermanentEngineError, match=message):
        read_workflow(workflow)


def test_workflow_annotation_expressions_are_filled_in_as_argo_does(settings: Settings) -> None:
    """The builder's one Argo expression (publish's stop reason) reads from the annotations."""
    job, environment = make_job("print(1)"), make_environment()
    workflow = build_workflow(job, environment, settings)
    plan = read_workflow(workflow)
    assert plan.exit_handler is not None
    assert plan.exit_handler.env["OPERATOR_STOP_REASON"] == ""
    workflow["metadata"]["annotations"][STOP_REASON_ANNOTATION] = "because {{ of } this"
    plan = read_workflow(workflow)
    assert plan.exit_handler is not None
    assert plan.exit_handler.env["OPERATOR_STOP_REASON"] == "because {{ of } this"
