"""Pod placement in the workflow: where an environment's job pods run and how images are pulled.

Scheduling fields (nodeSelector, tolerations, affinity, priority class) and pull secrets are set
on the workflow, so every pod of a job gets them: the job volume is ReadWriteOnce, and on a
node-bound volume the algorithm can only run where configure ran. Argo lets a template's
tolerations replace the workflow's, so no template sets its own. The runtime class (gVisor,
Kata) and the pull policy concern the job's own code: the algorithm, and the filtering step's
image for the pull policy. `check_placement` holds an environment's values to the Kubernetes
models at start-up, so a misspelt field stops the operator instead of being dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from hera.workflows.models import Affinity, LocalObjectReference, Toleration
from pydantic import BaseModel, ValidationError

from operator_argo.domain.environment import Environment
from operator_argo.domain.errors import ConfigurationError

GPU_RESOURCE = "nvidia.com/gpu"
# GPU nodes are commonly tainted with their resource name; a GPU job's pods tolerate it.
GPU_TOLERATION: Mapping[str, str] = {
    "key": GPU_RESOURCE,
    "operator": "Exists",
    "effect": "NoSchedule",
}


def tolerations(environment: Environment) -> list[dict[str, Any]]:
    """The environment's tolerations, plus the GPU taint's for a GPU environment."""
    found = [dict(item) for item in environment.placement.tolerations]
    if environment.gpu_number > 0 and dict(GPU_TOLERATION) not in found:
        found.append(dict(GPU_TOLERATION))
    return found


def workflow_placement(environment: Environment) -> dict[str, Any]:
    """hera Workflow arguments for every pod of the environment's jobs (unset ones omitted)."""
    placement = environment.placement
    fields: dict[str, Any] = {
        "node_selector": dict(placement.node_selector) or None,
        "tolerations": [Toleration.model_validate(t) for t in tolerations(environment)] or None,
        "affinity": Affinity.model_validate(placement.affinity) if placement.affinity else None,
        "pod_priority_class_name": placement.priority_class_name or None,
        "image_pull_secrets": [LocalObjectReference(name=n) for n in placement.image_pull_secrets]
        or None,
    }
    return {key: value for key, value in fields.items() if value is not None}


def job_code_placement(environment: Environment, *, runtime: bool) -> dict[str, Any]:
    """hera Container arguments of the job's own code: the pull policy, and (`runtime`, the
    algorithm) the runtime class, as a pod spec patch (Argo templates have no field for it)."""
    placement = environment.placement
    fields: dict[str, Any] = {}
    if placement.image_pull_policy:
        fields["image_pull_policy"] = placement.image_pull_policy
    if runtime and placement.runtime_class_name:
        fields["pod_spec_patch"] = json.dumps({"runtimeClassName": placement.runtime_class_name})
    return fields


def _dropped(given: Any, kept: Any, path: str) -> str | None:
    """The first key of `given` the model did not keep (a misspelt or unknown field)."""
    if isinstance(given, Mapping):
        kept_map = kept if isinstance(kept, Mapping) else {}
        for key, value in given.items():
            if key not in kept_map:
                return f"{path}.{key}"
            found = _dropped(value, kept_map[key], f"{path}.{key}")
            if found:
                return found
    elif isinstance(given, list) and isinstance(kept, list):
        for index, (value, model_value) in enumerate(zip(given, kept, strict=False)):
            found = _dropped(value, model_value, f"{path}[{index}]")
            if found:
                return found
    return None


def _check(model: type[BaseModel], value: Any, where: str) -> None:
    try:
        parsed = model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        raise ConfigurationError(f"{where}.{location}: {first['msg']}") from None
    unknown = _dropped(value, parsed.model_dump(by_alias=True, exclude_unset=True), where)
    if unknown:
        raise ConfigurationError(f"{unknown} is not a field of {model.__name__}")


def check_placement(environments: Sequence[Environment]) -> None:
    """Raise ConfigurationError unless every environment's affinity and tolerations are valid
    Kubernetes objects, naming the first bad field."""
    for environment in environments:
        where = f"OPERATOR_ENVIRONMENTS: ({environment.id})"
        placement = environment.placement
        if placement.affinity:
            _check(Affinity, dict(placement.affinity), f"{where}.affinity")
        for index, item in enumerate(placement.tolerations):
            _check(Toleration, dict(item), f"{where}.tolerations[{index}]")
