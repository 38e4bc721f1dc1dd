"""Reading a built Argo Workflow dict: which container templates run, in what order, how."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from operator_argo.domain.errors import PermanentEngineError

DEFAULT_MAIN = ("configure", "algorithm")
DEFAULT_EXIT_HANDLER = "publish"
# The one Argo expression a built workflow holds (an env value of its exit handler): filled in
# from the workflow's annotations, as Argo does.
_ANNOTATION_REF = re.compile(r"\{\{workflow\.annotations\.([^{}]+)\}\}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SecretRef:
    """An env var whose value comes from a Kubernetes Secret (`valueFrom.secretKeyRef`)."""

    name: str
    key: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class StepTemplate:
    """One container template: its command line, env and deadline."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str | SecretRef]
    deadline: float | None  # activeDeadlineSeconds
    mounts: frozenset[str]  # mount paths, e.g. {"/data", "/admin"}
    sub_paths: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """mount path -> the folder of the job volume mounted there ("" = the volume itself)."""
    reports_result: bool = False  # the template has an output parameter (its JSON result)
    workdir: str | None = None  # the container's workingDir


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkflowPlan:
    """The steps of a workflow in run order, its exit handler and overall deadline."""

    name: str
    main: tuple[StepTemplate, ...]
    exit_handler: StepTemplate | None
    deadline: float | None


def _seconds(value: Any) -> float | None:
    """activeDeadlineSeconds is an IntOrString."""
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise PermanentEngineError(f"activeDeadlineSeconds is not a number: {value!r}") from None
    return seconds if seconds > 0 else None


def _env(
    container: Mapping[str, Any], annotations: Mapping[str, str]
) -> dict[str, str | SecretRef]:
    env: dict[str, str | SecretRef] = {}
    for item in container.get("env") or ():
        name = item["name"]
        ref = (item.get("valueFrom") or {}).get("secretKeyRef")
        if ref is not None:
            env[name] = SecretRef(name=str(ref.get("name", "")), key=str(ref.get("key", "")))
        elif item.get("valueFrom") is None:
            value = str(item.get("value", ""))
            env[name] = _ANNOTATION_REF.sub(lambda m: annotations.get(m[1], ""), value)
    return env


def _template(raw: Mapping[str, Any], annotations: Mapping[str, str]) -> StepTemplate:
    container = raw.get("container")
    if not isinstance(container, Mapping):
        raise PermanentEngineError(f"template {raw.get('name')!r} has no container")
    argv = [*(container.get("command") or ()), *(container.get("args") or ())]
    if not argv:
        raise PermanentEngineError(f"template {raw.get('name')!r} has no command")
    mounts = container.get("volumeMounts") or ()
    return StepTemplate(
        name=str(raw["name"]),
        argv=tuple(str(part) for part in argv),
        env=_env(container, annotations),
        deadline=_seconds(raw.get("activeDeadlineSeconds")),
        mounts=frozenset(str(m.get("mountPath")) for m in mounts),
        sub_paths={str(m.get("mountPath")): str(m.get("subPath") or "") for m in mounts},
        reports_result=bool((raw.get("outputs") or {}).get("parameters")),
        workdir=str(container["workingDir"]) if container.get("workingDir") else None,
    )


def _dag_order(tasks: Sequence[Mapping[str, Any]]) -> list[str]:
    """Task templates ordered so that each comes after its dependencies."""
    by_name = {str(task["name"]): task for task in tasks}
    ordered: list[str] = []

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in ordered or name not in by_name:
            return
        if name in trail:
            raise PermanentEngineError(f"dependency cycle at DAG task {name!r}")
        task = by_name[name]
        deps = list(task.get("dependencies") or ())
        deps += re.findall(r"[A-Za-z0-9_-]+(?=\.|\s|$)", str(task.get("depends") or ""))
        for dep in deps:
            visit(dep, (*trail, name))
        ordered.append(name)

    for name in by_name:
        visit(name, ())
    return [str(by_name[name].get("template", name)) for name in ordered]


def _main_order(entry: Mapping[str, Any] | None) -> list[str]:
    if entry is None:
        return list(DEFAULT_MAIN)
    if entry.get("steps"):
        return [str(step["template"]) for group in entry["steps"] for step in group]
    if (entry.get("dag") or {}).get("tasks"):
        return _dag_order(entry["dag"]["tasks"])
    if entry.get("container"):
        return [str(entry["name"])]
    return list(DEFAULT_MAIN)


def read_workflow(workflow: Mapping[str, Any]) -> WorkflowPlan:
    """The plan of `workflow`; raises PermanentEngineError when it cannot be run here."""
    try:
        spec = workflow["spec"]
        name = str(workflow["metadata"]["name"])
        templates = {str(t["name"]): t for t in spec["templates"]}
    except (KeyError, TypeError) as exc:
        raise PermanentEngineError(f"not a workflow: missing {exc}") from None
    order = _main_order(templates.get(str(spec.get("entrypoint", ""))))
    missing = [step for step in order if step not in templates]
    if missing:
        raise PermanentEngineError(f"workflow {name} refers to unknown templates {missing}")
    exit_name = spec.get(
        "onExit", DEFAULT_EXIT_HANDLER if DEFAULT_EXIT_HANDLER in templates else None
    )
    if exit_name is not None and exit_name not in templates:
        raise PermanentEngineError(f"workflow {name} has no exit handler template {exit_name!r}")
    annotations = {
        str(key): str(value)
        for key, value in (workflow["metadata"].get("annotations") or {}).items()
    }
    return WorkflowPlan(
        name=name,
        main=tuple(_template(templates[step], annotations) for step in order),
        exit_handler=_template(templates[exit_name], annotations) if exit_name else None,
        deadline=_seconds(spec.get("activeDeadlineSeconds")),
    )
