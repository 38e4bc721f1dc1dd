"""The compute environments of OPERATOR_ENVIRONMENTS: parsed and checked into Environments."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from operator_argo.config_placement import PLACEMENT_FIELDS, parse_placement
from operator_argo.domain.environment import FILTER_TIMEOUT, Environment, FilterStep, KeySource
from operator_argo.domain.errors import ConfigurationError
from operator_argo.domain.notice import is_receiver_url

_ENV_FIELDS: dict[str, tuple[str, type]] = {
    "cpuNumber": ("cpu_number", int),
    "cpuType": ("cpu_type", str),
    "gpuNumber": ("gpu_number", int),
    "gpuType": ("gpu_type", str),
    "ramGB": ("ram_gb", int),
    "diskGB": ("disk_gb", int),
    "priceMin": ("price_min", float),
    "desc": ("desc", str),
    "maxJobs": ("max_jobs", int),
    "storageExpiry": ("storage_expiry", int),
    "maxJobDuration": ("max_job_duration", int),
    "namespace": ("namespace", str),
    "allowNetwork": ("allow_network", bool),
    "refuseLocalUrls": ("refuse_local_urls", bool),
}


# Fields read by their own parsers below, beside the scalar ones of _ENV_FIELDS.
_OBJECT_FIELDS = frozenset({"id", "allowedChainId", "keyFile", "keyEnv", "keySecret", "filter"})
_NOTICE_FIELDS = {"notifyStartUrl": "notify_start_url", "notifyStopUrl": "notify_stop_url"}


def _coerce(where: str, key: str, value: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ConfigurationError(f"OPERATOR_ENVIRONMENTS: {where}.{key} must be true or false")
    if kind is str:
        if isinstance(value, str):
            return value
        raise ConfigurationError(f"OPERATOR_ENVIRONMENTS: {where}.{key} must be a string")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"OPERATOR_ENVIRONMENTS: {where}.{key} must be a number") from None
    if isinstance(value, bool) or number < 0:
        raise ConfigurationError(f"OPERATOR_ENVIRONMENTS: {where}.{key} must be a number >= 0")
    return number


def _key_source(where: str, item: Mapping[str, Any]) -> KeySource:
    secret = item.get("keySecret")
    if secret is not None and not (
        isinstance(secret, dict) and isinstance(secret.get("name"), str)
    ):
        raise ConfigurationError(f"OPERATOR_ENVIRONMENTS: {where}.keySecret must be {{name, key}}")
    return KeySource(
        file=item.get("keyFile"),
        env=item.get("keyEnv"),
        secret_name=secret["name"] if secret else None,
        secret_key=str(secret.get("key", "key")) if secret else "key",
    )


def _strings(where: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(
            f"OPERATOR_ENVIRONMENTS: {where}.{key} must be a non-empty list of strings"
        )
    return tuple(value)


def _receiver_url(where: str, key: str, value: Any) -> str:
    """A notice receiver's URL; empty (or null) turns the global one off for this environment."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not is_receiver_url(value.strip()):
        raise ConfigurationError(f"OPERATOR_ENVIRONMENTS: {where}.{key} must be an http(s) URL")
    return value.strip()


def _filter_step(where: str, value: Any) -> FilterStep:
    """`filter: {image, command, timeout}`: the data owner's filtering step."""
    where = f"{where}.filter"
    if not isinstance(value, dict):
        raise ConfigurationError(f"OPERATOR_ENVIRONMENTS: {where} must be an object")
    unknown = set(value) - {"image", "command", "timeout"}
    if unknown:
        raise ConfigurationError(
            f"OPERATOR_ENVIRONMENTS: {where} has unknown keys {sorted(unknown)}"
        )
    image = value.get("image")
    if not isinstance(image, str) or not image.strip():
        raise ConfigurationError(f"OPERATOR_ENVIRONMENTS: {where}.image must be a non-empty string")
    timeout = _coerce(where, "timeout", value.get("timeout", FILTER_TIMEOUT), int)
    if timeout < 1:
        raise ConfigurationError(f"OPERATOR_ENVIRONMENTS: {where}.timeout must be >= 1")
    return FilterStep(
        image=image.strip(),
        command=_strings(where, "command", value.get("command")),
        timeout=timeout,
    )


def parse_environment(item: Any, index: int, default_namespace: str) -> Environment:
    """One environment object of OPERATOR_ENVIRONMENTS (field names as in GET /environments)."""
    where = f"[{index}]"
    if not isinstance(item, dict):
        raise ConfigurationError(f"OPERATOR_ENVIRONMENTS: {where} must be an object")
    env_id = item.get("id")
    if not isinstance(env_id, str) or not env_id:
        raise ConfigurationError(f"OPERATOR_ENVIRONMENTS: {where}.id must be a non-empty string")
    where = f"[{index}] ({env_id})"
    fields: dict[str, Any] = {"id": env_id, "namespace": default_namespace}
    for key, (attr, kind) in _ENV_FIELDS.items():
        if key in item and item[key] is not None:
            fields[attr] = _coerce(where, key, item[key], kind)
    if "maxJobs" in item and fields["max_jobs"] < 1:
        raise ConfigurationError(f"OPERATOR_ENVIRONMENTS: {where}.maxJobs must be at least 1")
    if "maxJobDuration" in item and fields["max_job_duration"] < 1:
        raise ConfigurationError(f"OPERATOR_ENVIRONMENTS: {where}.maxJobDuration must be >= 1")
    chains = item.get("allowedChainId")
    if chains is not None:
        if not isinstance(chains, list):
            raise ConfigurationError(
                f"OPERATOR_ENVIRONMENTS: {where}.allowedChainId must be a list"
            )
        fields["allowed_chain_ids"] = tuple(
            _coerce(where, "allowedChainId", chain, int) for chain in chains
        )
    if item.get("filter") is not None:
        fields["filter"] = _filter_step(where, item["filter"])
    fields["placement"] = parse_placement(where, item)
    for key, attr in _NOTICE_FIELDS.items():
        if key in item:
            fields[attr] = _receiver_url(where, key, item[key])
    unknown = set(item) - set(_ENV_FIELDS) - _OBJECT_FIELDS - PLACEMENT_FIELDS - set(_NOTICE_FIELDS)
    unknown -= {"currentJobs", "consumerAddress", "lastSeen"}  # tolerated: copied from a GET
    if unknown:
        raise ConfigurationError(
            f"OPERATOR_ENVIRONMENTS: {where} has unknown keys {sorted(unknown)}"
        )
    return Environment(key=_key_source(where, item), **fields)


def load_environments(
    env: Mapping[str, str], defaults: Mapping[str, Any], *, key_variable: str
) -> tuple[Environment, ...]:
    """OPERATOR_ENVIRONMENTS of `env` (inline, or a file path); unset = one environment from
    the legacy variables in `defaults`, whose key comes from `key_variable` when that is set."""
    raw = env.get("OPERATOR_ENVIRONMENTS", "").strip()
    namespace = defaults["default_namespace"]
    if not raw:
        return (
            Environment(
                id=namespace,
                namespace=namespace,
                max_job_duration=defaults["algo_pod_timeout"],
                storage_expiry=defaults["storage_expiry"],
                key=KeySource(env=key_variable) if env.get(key_variable) else KeySource(),
            ),
        )
    content = raw
    if not raw.startswith(("[", "{")):
        try:
            content = Path(raw).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"OPERATOR_ENVIRONMENTS: cannot read {raw}: {exc.strerror}"
            ) from None
    try:
        data = yaml.safe_load(content)  # YAML is a superset of JSON
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"OPERATOR_ENVIRONMENTS: not valid YAML/JSON: {exc}") from None
    if isinstance(data, dict) and "environments" in data:
        data = data["environments"]
    if not isinstance(data, list) or not data:
        raise ConfigurationError("OPERATOR_ENVIRONMENTS must be a non-empty list of environments")
    envs = tuple(parse_environment(item, i, namespace) for i, item in enumerate(data))
    ids = [e.id for e in envs]
    if len(set(ids)) != len(ids):
        raise ConfigurationError(f"OPERATOR_ENVIRONMENTS: duplicate environment ids in {ids}")
    return envs
