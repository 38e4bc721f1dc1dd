"""Pod placement and images: which fields reach which pods of a job's workflow."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from argo_builder_support import steps_of

from operator_argo.domain.environment import Environment, FilterStep, PodPlacement

Build = Callable[..., dict[str, Any]]
GPU_TAINT = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
POOL_TAINT = {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
AFFINITY = {
    "podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {
                "weight": 10,
                "podAffinityTerm": {
                    "topologyKey": "kubernetes.io/hostname",
                    "labelSelector": {"matchLabels": {"operator-argo/step": "algorithm"}},
                },
            }
        ]
    }
}
PLACEMENT = PodPlacement(
    node_selector={"node-pool": "gpu"},
    tolerations=(POOL_TAINT, GPU_TAINT),
    affinity=AFFINITY,
    priority_class_name="c2d-gpu",
    runtime_class_name="gvisor",
    image_pull_secrets=("algorithm-images", "filter-images"),
    image_pull_policy="Always",
)
POD_FIELDS = ("nodeSelector", "tolerations", "affinity", "podPriorityClassName", "imagePullSecrets")


def placed(environment: Environment, **fields: Any) -> Environment:
    return dataclasses.replace(environment, placement=PLACEMENT, **fields)


def test_an_environment_without_placement_sets_none_of_it(build: Build) -> None:
    wf = build()
    assert not [key for key in POD_FIELDS if key in wf["spec"]]
    for template in wf["spec"]["templates"]:
        assert "podSpecPatch" not in template and "tolerations" not in template
        assert "imagePullPolicy" not in template.get("container", {})


def test_scheduling_and_pull_secrets_apply_to_every_pod_of_the_job(
    build: Build, environment: Environment
) -> None:
    spec = build(environment=placed(environment, gpu_number=1))["spec"]
    assert spec["nodeSelector"] == {"node-pool": "gpu"}
    assert spec["tolerations"] == [POOL_TAINT, GPU_TAINT]  # the GPU taint not twice
    assert spec["affinity"] == AFFINITY
    assert spec["podPriorityClassName"] == "c2d-gpu"
    assert spec["imagePullSecrets"] == [{"name": "algorithm-images"}, {"name": "filter-images"}]
    # Argo lets a template's own scheduling fields replace the workflow's: none sets them.
    for template in spec["templates"]:
        assert not {"nodeSelector", "tolerations", "affinity", "priorityClassName"} & set(template)


def test_the_runtime_class_and_pull_policy_reach_the_jobs_own_code_only(
    build: Build, environment: Environment
) -> None:
    step = FilterStep(image="filters/x:1", command=("true",))
    templates = steps_of(build(environment=placed(environment, filter=step)))
    algorithm = templates["algorithm"]
    assert json.loads(algorithm["podSpecPatch"]) == {"runtimeClassName": "gvisor"}
    assert algorithm["container"]["imagePullPolicy"] == "Always"
    assert templates["filter"]["container"]["imagePullPolicy"] == "Always"
    assert "podSpecPatch" not in templates["filter"]
    for name in ("configure", "publish"):
        assert "podSpecPatch" not in templates[name]
        assert "imagePullPolicy" not in templates[name]["container"]


def test_a_gpu_environment_tolerates_the_gpu_taint_on_every_pod(
    build: Build, environment: Environment
) -> None:
    spec = build(environment=dataclasses.replace(environment, gpu_number=1))["spec"]
    assert spec["tolerations"] == [GPU_TAINT]
