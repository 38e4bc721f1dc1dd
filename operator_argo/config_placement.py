"""Pod placement of an environment (nodeSelector, tolerations, affinity, priority and runtime
classes, image pull secrets and policy): read from OPERATOR_ENVIRONMENTS and checked.

The values keep the Kubernetes API's field names and shapes. What can be checked without the
Kubernetes models is checked here (types, names, enums); the Argo engine checks affinity and
tolerations against the Kubernetes models at start-up as well (engines/argo/placement.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from operator_argo.domain.environment import PodPlacement
from operator_argo.domain.errors import ConfigurationError

PLACEMENT_FIELDS = frozenset(
    {
        "nodeSelector",
        "tolerations",
        "affinity",
        "priorityClassName",
        "runtimeClassName",
        "imagePullSecrets",
        "imagePullPolicy",
    }
)
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
TOLERATION_FIELDS = frozenset({"key", "operator", "value", "effect", "tolerationSeconds"})
TOLERATION_EFFECTS = ("", "NoSchedule", "PreferNoSchedule", "NoExecute")
AFFINITY_FIELDS = frozenset({"nodeAffinity", "podAffinity", "podAntiAffinity"})

_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")  # label name or value
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")  # DNS subdomain (RFC 1123)


def _fail(where: str, problem: str) -> ConfigurationError:
    return ConfigurationError(f"OPERATOR_ENVIRONMENTS: {where} {problem}")


def _label_key(where: str, key: Any) -> str:
    """A label key: `name` or `prefix/name` (prefix a DNS subdomain, name at most 63 chars)."""
    prefix, _, name = key.rpartition("/") if isinstance(key, str) else ("", "", "")
    if not _NAME.match(name) or (prefix and not _SUBDOMAIN.match(prefix)):
        raise _fail(where, f"has an invalid label key {key!r}")
    return str(key)


def _node_selector(where: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _fail(f"{where}.nodeSelector", "must be an object of label keys and values")
    selector: dict[str, str] = {}
    for key, label in value.items():
        if not isinstance(label, str) or (label and not _NAME.match(label)):
            raise _fail(f"{where}.nodeSelector", f"has an invalid label value {label!r}")
        selector[_label_key(f"{where}.nodeSelector", key)] = label
    return selector


def _toleration(where: str, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _fail(where, "must be an object")
    unknown = set(item) - TOLERATION_FIELDS
    if unknown:
        raise _fail(where, f"has unknown keys {sorted(unknown)}")
    operator = item.get("operator", "Equal")
    if operator not in ("Exists", "Equal"):
        raise _fail(f"{where}.operator", "must be Exists or Equal")
    key, value = item.get("key", ""), item.get("value", "")
    if key:
        _label_key(where, key)
    elif operator != "Exists":
        raise _fail(where, "without a key needs operator Exists")
    if not isinstance(value, str) or (operator == "Exists" and value):
        raise _fail(f"{where}.value", "must be a string, and empty with operator Exists")
    effect = item.get("effect", "")
    if effect not in TOLERATION_EFFECTS:
        raise _fail(f"{where}.effect", f"must be one of {', '.join(TOLERATION_EFFECTS[1:])}")
    seconds = item.get("tolerationSeconds")
    if seconds is not None and (type(seconds) is not int or effect != "NoExecute"):
        raise _fail(f"{where}.tolerationSeconds", "must be an integer, with effect NoExecute")
    return dict(item)


def _tolerations(where: str, value: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list):
        raise _fail(f"{where}.tolerations", "must be a list")
    return tuple(_toleration(f"{where}.tolerations[{i}]", item) for i, item in enumerate(value))


def _affinity(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise _fail(f"{where}.affinity", "must be an object of objects")
    unknown = set(value) - AFFINITY_FIELDS
    if unknown:
        raise _fail(f"{where}.affinity", f"has unknown keys {sorted(unknown)}")
    return dict(value)


def _dns_name(where: str, value: Any) -> str:
    if not isinstance(value, str) or not _SUBDOMAIN.match(value):
        raise _fail(where, "must be a Kubernetes object name (lowercase DNS subdomain)")
    return value


def _pull_secrets(where: str, value: Any) -> tuple[str, ...]:
    """A list of Secret names, or of `{name}` objects as in a pod spec."""
    if not isinstance(value, list):
        raise _fail(f"{where}.imagePullSecrets", "must be a list of Secret names")
    names = []
    for i, item in enumerate(value):
        name = item.get("name") if isinstance(item, dict) and set(item) == {"name"} else item
        names.append(_dns_name(f"{where}.imagePullSecrets[{i}]", name))
    return tuple(names)


def parse_placement(where: str, item: Mapping[str, Any]) -> PodPlacement:
    """The placement fields of one environment object (absent ones keep their defaults)."""
    fields: dict[str, Any] = {}
    if item.get("nodeSelector") is not None:
        fields["node_selector"] = _node_selector(where, item["nodeSelector"])
    if item.get("tolerations") is not None:
        fields["tolerations"] = _tolerations(where, item["tolerations"])
    if item.get("affinity") is not None:
        fields["affinity"] = _affinity(where, item["affinity"])
    for key, attr in (
        ("priorityClassName", "priority_class_name"),
        ("runtimeClassName", "runtime_class_name"),
    ):
        if item.get(key):
            fields[attr] = _dns_name(f"{where}.{key}", item[key])
    if item.get("imagePullSecrets") is not None:
        fields["image_pull_secrets"] = _pull_secrets(where, item["imagePullSecrets"])
    policy = item.get("imagePullPolicy")
    if policy:
        if policy not in PULL_POLICIES:
            raise _fail(f"{where}.imagePullPolicy", f"must be one of {', '.join(PULL_POLICIES)}")
        fields["image_pull_policy"] = policy
    return PodPlacement(**fields)
