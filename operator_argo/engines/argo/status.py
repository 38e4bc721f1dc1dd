"""Workflow status parsing: an Argo Workflow object, as the API returns it, to an Observation."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import gzip
import json
import re
from collections.abc import Mapping
from typing import Any

from operator_argo.domain.deadlines import is_overdue, overdue_by
from operator_argo.domain.names import (
    COMPLETED_LABEL,
    JOB_ID_LABEL,
    RESULT_PARAMETER,
    STOP_REASON_ANNOTATION,
    job_id_of,
)
from operator_argo.domain.observation import STEP_NAMES, Observation, Phase, StepObservation
from operator_argo.engines.argo.retention import is_released

# Argo's wordings for a pod or step that ran out of time, across versions.
_DEADLINE = re.compile(
    r"longer than the specified deadline|exceeded its deadline|deadline exceeded|DeadlineExceeded",
    re.IGNORECASE,
)
_STEP_NODE_TYPES = ("Pod", "Skipped")


class WorkflowState(enum.Enum):
    """Coarse state of a workflow object, the way the fixtures README classifies them."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ERROR = "error"
    CANCELLING = "cancelling"
    STUCK = "stuck"


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_time(value: object) -> dt.datetime | None:
    """An RFC 3339 string, a datetime (unquoted YAML timestamps) or null -> aware datetime."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _exit_code(outputs: Mapping[str, Any]) -> int | None:
    raw = outputs.get("exitCode")
    if isinstance(raw, bool):
        return None
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def _result(outputs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    params = outputs.get("parameters")
    if not isinstance(params, list):
        return None
    for param in params:
        if isinstance(param, Mapping) and param.get("name") == RESULT_PARAMETER:
            try:
                value = json.loads(param.get("value") or "")
            except (TypeError, ValueError):
                return None
            return value if isinstance(value, dict) else None
    return None


def is_deadline_message(message: str | None) -> bool:
    """Whether an Argo or Kubernetes message says something ran out of time."""
    return bool(message) and _DEADLINE.search(message or "") is not None


def parse_step(node: Mapping[str, Any]) -> StepObservation:
    """One Pod (or Skipped) node of a step template."""
    outputs = _map(node.get("outputs"))
    message = _text(node.get("message"))
    return StepObservation(
        phase=Phase.parse(node.get("phase")),
        exit_code=_exit_code(outputs),
        message=message,
        output=_result(outputs),
        started_at=parse_time(node.get("startedAt")),
        finished_at=parse_time(node.get("finishedAt")),
        oom_killed=bool(message and "OOMKilled" in message),
        deadline_exceeded=is_deadline_message(message),
    )


def workflow_nodes(status: Mapping[str, Any]) -> Mapping[str, Any]:
    """`status.nodes`, or the gzip+base64 `status.compressedNodes` Argo writes for big workflows."""
    nodes = status.get("nodes")
    if isinstance(nodes, Mapping):
        return nodes
    compressed = status.get("compressedNodes")
    if isinstance(compressed, str) and compressed:
        try:
            decoded = json.loads(gzip.decompress(base64.b64decode(compressed)))
        except (ValueError, OSError, EOFError):
            return {}
        return decoded if isinstance(decoded, Mapping) else {}
    return {}


def _sort_key(node: Mapping[str, Any]) -> tuple[bool, dt.datetime]:
    started = parse_time(node.get("startedAt"))
    floor = dt.datetime.min.replace(tzinfo=dt.UTC)
    return node.get("type") == "Pod", started or floor


def find_steps(nodes: Mapping[str, Any]) -> dict[str, StepObservation]:
    """The configure/algorithm/publish nodes, keyed on templateName (exit-handler nodes are
    named `<wf>.onExit`, so node names do not help). With retries, the latest Pod node wins."""
    found: dict[str, Mapping[str, Any]] = {}
    for node in nodes.values():
        if not isinstance(node, Mapping):
            continue
        template = node.get("templateName")
        if template not in STEP_NAMES or node.get("type") not in _STEP_NODE_TYPES:
            continue
        current = found.get(template)
        if current is None or _sort_key(node) >= _sort_key(current):
            found[template] = node
    return {name: parse_step(node) for name, node in found.items()}


def workflow_job_id(obj: Mapping[str, Any]) -> str:
    """The job id from the label, else the one in the workflow name."""
    metadata = _map(obj.get("metadata"))
    label = _text(_map(metadata.get("labels")).get(JOB_ID_LABEL))
    if label:
        return label
    name = str(metadata.get("name") or "")
    return job_id_of(name)


def is_stuck(obj: Mapping[str, Any]) -> bool:
    """Argo reports Running/Pending but labelled the workflow completed or set finishedAt.

    Argo's controller stops reconciling a workflow once it carries the completed label, so such
    an object may never change again (a known controller bug). We treat it as finished.
    """
    status = _map(obj.get("status"))
    if Phase.parse(status.get("phase")).is_done:
        return False
    labels = _map(_map(obj.get("metadata")).get("labels"))
    completed = str(labels.get(COMPLETED_LABEL, "")).lower() == "true"
    return completed or parse_time(status.get("finishedAt")) is not None


def _stuck_message(message: str | None) -> str:
    base = "Argo marked the workflow completed but left its phase Running"
    return f"{base}: {message}" if message else base


def parse_workflow(obj: Mapping[str, Any]) -> Observation:
    """Read a Workflow object leniently; never raises on odd or partial objects.

    A stuck workflow (see `is_stuck`) is reported as finished with phase Error and a message
    saying so, so the reconciler ends the job instead of waiting forever.
    """
    metadata = _map(obj.get("metadata"))
    status = _map(obj.get("status"))
    spec = _map(obj.get("spec"))
    message = _text(status.get("message"))
    phase = Phase.parse(status.get("phase"))
    stuck = is_stuck(obj)
    if stuck:
        phase, message = Phase.ERROR, _stuck_message(message)
    nodes = workflow_nodes(status)
    root = _map(nodes.get(str(metadata.get("name") or "")))
    return Observation(
        job_id=workflow_job_id(obj),
        workflow_name=str(metadata.get("name") or ""),
        phase=phase,
        steps=find_steps(nodes),
        message=message,
        stopping=bool(spec.get("shutdown")) and not phase.is_done,
        deadline_exceeded=is_deadline_message(message)
        or is_deadline_message(_text(root.get("message"))),
        stop_reason=_text(_map(metadata.get("annotations")).get(STOP_REASON_ANNOTATION)),
        started_at=parse_time(status.get("startedAt")),
        finished_at=parse_time(status.get("finishedAt")),
        filter_planned=_plans_filter(spec),
        released=is_released(spec),
    )


def _plans_filter(spec: Mapping[str, Any]) -> bool:
    templates = spec.get("templates")
    if not isinstance(templates, list):
        return False
    return any(isinstance(t, Mapping) and t.get("name") == "filter" for t in templates)


def classify_workflow(obj: Mapping[str, Any]) -> WorkflowState:
    """The coarse state of a workflow object (stuck and cancelling are told apart here)."""
    if is_stuck(obj):
        return WorkflowState.STUCK
    obs = parse_workflow(obj)
    if obs.stopping:
        return WorkflowState.CANCELLING
    return {
        Phase.SUCCEEDED: WorkflowState.SUCCEEDED,
        Phase.FAILED: WorkflowState.FAILED,
        Phase.ERROR: WorkflowState.ERROR,
    }.get(obs.phase or Phase.PENDING, WorkflowState.RUNNING)


def overdue_observation(obj: Mapping[str, Any], now: dt.datetime) -> Observation | None:
    """A finished observation for a workflow still reported running although it is overdue
    (domain.deadlines: its `spec.activeDeadlineSeconds` plus the grace), else None."""
    obs = parse_workflow(obj)
    deadline = _map(obj.get("spec")).get("activeDeadlineSeconds")
    if obs.finished or not isinstance(deadline, int) or isinstance(deadline, bool):
        return None
    created = _map(obj.get("metadata")).get("creationTimestamp")
    started = obs.started_at or parse_time(created)
    if started is None or not is_overdue(started, deadline, now):
        return None
    message = (
        f"the workflow was still {(obs.phase or Phase.PENDING).value} "
        f"{int(overdue_by(started, deadline, now))}s past its {deadline}s deadline; "
        "the watchdog ended it"
    )
    return dataclasses.replace(
        obs, phase=Phase.FAILED, message=message, deadline_exceeded=True, finished_at=now
    )
