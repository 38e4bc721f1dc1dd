"""The filtering step: where it runs in the workflow, what it sees, and what publish is told."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from argo_builder_support import env_of, steps_of, walk

from operator_argo.config import Settings
from operator_argo.domain.deadlines import DEADLINE_MARGIN
from operator_argo.domain.environment import Environment, FilterStep
from operator_argo.engines.argo.builder_env import STOP_REASON_VALUE

Build = Callable[..., dict[str, Any]]
FILTER = FilterStep(
    image="filters/redact:2", command=("python", "/redact.py", "--strict"), timeout=77
)


def filtered(environment: Environment) -> Environment:
    return dataclasses.replace(environment, filter=FILTER)


def test_without_a_filter_the_workflow_has_no_filtering_step(build: Build) -> None:
    wf = build()
    assert "filter" not in steps_of(wf)
    assert "OPERATOR_FILTERED" not in env_of(steps_of(wf)["publish"])


def test_the_filter_runs_after_the_algorithm_and_publish_stays_the_exit_handler(
    build: Build, environment: Environment
) -> None:
    wf = build(environment=filtered(environment))
    main = steps_of(wf)["main"]
    assert [[step["name"] for step in group] for group in main["steps"]] == [
        ["configure"],
        ["algorithm"],
        ["filter"],
    ]
    assert wf["spec"]["onExit"] == "publish"
    assert env_of(steps_of(wf)["publish"])["OPERATOR_FILTERED"]["value"] == "1"


def test_the_filter_sees_the_outputs_and_its_own_folder_only(
    build: Build, environment: Environment
) -> None:
    template = steps_of(build(environment=filtered(environment)))["filter"]
    container = template["container"]
    assert container["image"] == "filters/redact:2"
    mounts = {(m["mountPath"], m["subPath"]) for m in container["volumeMounts"]}
    assert mounts == {("/data/outputs", "data/outputs"), ("/admin/filter", "admin/filter")}
    assert container["workingDir"] == "/data/outputs"
    assert container["command"][:2] == ["sh", "-c"]
    assert container["command"][-3:] == ["python", "/redact.py", "--strict"]
    assert "/admin/filter/filtering.log" in container["command"][2]
    assert "valueFrom" not in str(container["env"])  # no key, no storage credentials
    assert set(env_of(template)) == {"DIDS", "TRANSFORMATION_DID", "OUTPUTS"}
    assert template["metadata"]["labels"]["operator-argo/network"] == "deny"
    assert template["metadata"]["labels"]["operator-argo/step"] == "filter"
    assert "nvidia.com/gpu" not in str(container.get("resources"))


def test_the_filter_has_its_own_deadline_inside_the_workflow_deadline(
    build: Build, environment: Environment, settings: Settings
) -> None:
    plain = build()
    wf = build(environment=filtered(environment))
    assert steps_of(wf)["filter"]["activeDeadlineSeconds"] == 77
    assert wf["spec"]["activeDeadlineSeconds"] == plain["spec"]["activeDeadlineSeconds"] + 77
    algorithm = steps_of(wf)["algorithm"]["activeDeadlineSeconds"]
    total = settings.configure_timeout + algorithm + 77 + settings.publish_timeout
    assert wf["spec"]["activeDeadlineSeconds"] == total + DEADLINE_MARGIN


def test_argo_expressions_in_the_filter_command_stay_inert(
    build: Build, environment: Environment
) -> None:
    odd = dataclasses.replace(FILTER, command=("sh", "-c", "echo {{workflow.name}}"))
    wf = build(environment=dataclasses.replace(environment, filter=odd))
    ours = [v for _, v in walk(wf) if isinstance(v, str) and "{{" in v]
    assert ours == [STOP_REASON_VALUE]  # the operator's own expression, nothing of the filter
