"""Settings: read once from the environment, validated, frozen, and passed down."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from operator_argo.domain.environment import Environment, KeySource
from operator_argo.domain.errors import ConfigurationError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


# Providers send nanosecond timestamps as nonces: ten minutes of them. A nonce further below its
# signer's highest is refused, and older nonces can be forgotten (the janitor prunes them).
# 0 turns both off: any unseen nonce is accepted and every nonce is kept.
NONCE_WINDOW_DEFAULT = 600 * 10**9


@dataclasses.dataclass(frozen=True, kw_only=True)
class S3Settings:
    """S3-compatible result storage (AWS S3, MinIO, Ceph)."""

    endpoint: str = ""  # host[:port] or URL; empty = AWS
    bucket: str = ""
    prefix: str = "results"
    region: str = ""
    access_key: str = ""
    secret_key: str = ""
    secure: bool = True  # https
    secret_name: str = ""  # Kubernetes Secret with the credentials, for job pods


@dataclasses.dataclass(frozen=True, kw_only=True)
class IpfsSettings:
    """IPFS result storage through a node's HTTP API."""

    url: str = ""
    api_key: str = ""  # sent as X-API-KEY
    client_id: str = ""  # sent as CLIENT-ID
    secret_name: str = ""  # Kubernetes Secret with the headers, for job pods


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting of operator-argo. Durations are seconds, sizes bytes unless named otherwise."""

    # --- HTTP server
    host: str = "127.0.0.1"  # OPERATOR_HOST: listen address
    port: int = 8050  # OPERATOR_PORT
    max_body_bytes: int = 1_048_576  # OPERATOR_MAX_BODY_BYTES: largest accepted request body
    max_json_depth: int = 64  # OPERATOR_MAX_JSON_DEPTH: deepest accepted JSON nesting
    event_loop: str = (
        "auto"  # OPERATOR_EVENT_LOOP: "auto" (uvloop when installed), "uvloop", "asyncio"
    )
    # --- data and engine
    data_dir: Path = Path(".data")  # OPERATOR_DATA_DIR: embedded database, results, job dirs
    engine: str = "local"  # OPERATOR_ENGINE: "local" or "argo"
    environments: tuple[Environment, ...] = ()  # OPERATOR_ENVIRONMENTS
    # --- database
    postgres_host: str = ""  # POSTGRES_HOST: empty = embedded PostgreSQL under data_dir
    postgres_port: int = 5432  # POSTGRES_PORT
    postgres_db: str = "operator"  # POSTGRES_DB
    postgres_user: str = "postgres"  # POSTGRES_USER
    postgres_password: str = ""  # POSTGRES_PASSWORD
    pool_min_size: int = 2  # OPERATOR_POOL_MIN: pooled database connections kept open
    pool_max_size: int = 10  # OPERATOR_POOL_MAX: most pooled database connections
    # --- auth
    signature_required: bool = False  # SIGNATURE_REQUIRED
    allowed_providers: frozenset[str] = frozenset()  # ALLOWED_PROVIDERS: JSON list, lowercased
    allowed_admins: frozenset[str] = frozenset()  # ALLOWED_ADMINS: JSON list
    nonce_window: int = (
        NONCE_WINDOW_DEFAULT  # OPERATOR_NONCE_WINDOW: reject nonces this far below the highest
    )
    # --- jobs
    operator_address: str = ""  # OPERATOR_ADDRESS: reported by GET /
    algo_pod_timeout: int = 3600  # ALGO_POD_TIMEOUT: default algorithm time limit
    storage_expiry: int = 0  # STORAGE_EXPIRY: seconds results are kept; 0 = forever
    default_namespace: str = "ocean-compute"  # DEFAULT_NAMESPACE: id/namespace of the default env
    configure_timeout: int = 1800  # OPERATOR_CONFIGURE_TIMEOUT: configure step deadline
    publish_timeout: int = 900  # OPERATOR_PUBLISH_TIMEOUT: publish step deadline
    max_output_bytes: int = 10 * 1024**3  # OPERATOR_MAX_OUTPUT_BYTES: per job, published
    scheduler_interval: float = 1.0  # OPERATOR_SCHEDULER_INTERVAL: admission queue poll period
    resync_interval: float = 60.0  # OPERATOR_RESYNC_INTERVAL: watcher full relist period
    janitor_interval: float = 300.0  # OPERATOR_JANITOR_INTERVAL: janitor pass period
    # --- result storage
    storage_backend: str = "local"  # OPERATOR_STORAGE: "local", "s3" or "ipfs"
    results_dir: Path = Path(".data/results")  # OPERATOR_RESULTS_DIR: local backend directory
    s3: S3Settings = dataclasses.field(default_factory=S3Settings)  # OPERATOR_S3_*
    ipfs: IpfsSettings = dataclasses.field(default_factory=IpfsSettings)  # IPFS_URL, X-API-KEY...
    # --- argo engine
    step_image: str = "operator-argo:latest"  # OPERATOR_STEP_IMAGE: image of configure/publish
    kubeconfig: str = ""  # KUBECONFIG: empty = in-cluster config
    executor_service_account: str = (
        "operator-argo-executor"  # OPERATOR_EXECUTOR_SA: Argo's executor
    )
    results_pvc: str = ""  # OPERATOR_RESULTS_PVC: claim the local backend lives on in a cluster
    storage_class: str = ""  # OPERATOR_STORAGE_CLASS: for job volumes; empty = cluster default
    # --- logs
    log_level: str = "INFO"  # LOG_LEVEL
    log_format: str = "console"  # LOG_FORMAT: "json" or "console"
    log_cfg: str = ""  # LOG_CFG: a logging config file (dictConfig YAML/JSON) that wins over both

    def environment(self, env_id: str) -> Environment | None:
        """The environment called `env_id`, if configured."""
        for env in self.environments:
            if env.id == env_id:
                return env
        return None

    @property
    def embedded_postgres(self) -> bool:
        return not self.postgres_host


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name, default).strip()


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def positive_number(env: Mapping[str, str], name: str, default: float) -> float:
    """Variable `name` of `env` as a number > 0 (`default` when unset or empty)."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {raw!r}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be 0 or 1, got {raw!r}")


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _text(env, name, default).lower() or default
    if value not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _address_list(env: Mapping[str, str], name: str) -> frozenset[str]:
    raw = env.get(name, "").strip()
    if not raw:
        return frozenset()
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        # Be kind to a comma-separated list; the original only took JSON.
        value = [part.strip() for part in raw.split(",") if part.strip()]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigurationError(f"{name} must be a JSON list of addresses, got {raw!r}")
    return frozenset(item.strip().lower() for item in value)


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
}


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
    unknown = (
        set(item) - set(_ENV_FIELDS) - {"id", "allowedChainId", "keyFile", "keyEnv", "keySecret"}
    )
    unknown -= {"currentJobs", "consumerAddress", "lastSeen"}  # tolerated: copied from a GET
    if unknown:
        raise ConfigurationError(
            f"OPERATOR_ENVIRONMENTS: {where} has unknown keys {sorted(unknown)}"
        )
    return Environment(key=_key_source(where, item), **fields)


def _load_environments(env: Mapping[str, str], defaults: dict[str, Any]) -> tuple[Environment, ...]:
    raw = env.get("OPERATOR_ENVIRONMENTS", "").strip()
    namespace = defaults["default_namespace"]
    if not raw:
        return (
            Environment(
                id=namespace,
                namespace=namespace,
                max_job_duration=defaults["algo_pod_timeout"],
                storage_expiry=defaults["storage_expiry"],
                key=KeySource(env="OPERATOR_PRIVATE_KEY")
                if env.get("OPERATOR_PRIVATE_KEY")
                else KeySource(),
            ),
        )
    text = raw
    if not raw.startswith(("[", "{")):
        path = Path(raw)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"OPERATOR_ENVIRONMENTS: cannot read {raw}: {exc.strerror}"
            ) from None
    try:
        data = yaml.safe_load(text)  # YAML is a superset of JSON
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


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read every setting from `env` (default: the process environment); raise ConfigurationError
    naming the first bad setting."""
    env = os.environ if env is None else env
    data_dir = Path(_text(env, "OPERATOR_DATA_DIR", ".data") or ".data")
    base: dict[str, Any] = {
        "algo_pod_timeout": _int(env, "ALGO_POD_TIMEOUT", 3600, minimum=1),
        "storage_expiry": _int(env, "STORAGE_EXPIRY", 0),
        "default_namespace": _text(env, "DEFAULT_NAMESPACE", "ocean-compute") or "ocean-compute",
    }
    pool_min = _int(env, "OPERATOR_POOL_MIN", 2, minimum=1)
    pool_max = _int(env, "OPERATOR_POOL_MAX", 10, minimum=1)
    if pool_max < pool_min:
        raise ConfigurationError(
            f"OPERATOR_POOL_MAX ({pool_max}) must be >= OPERATOR_POOL_MIN ({pool_min})"
        )
    settings = Settings(
        host=_text(env, "OPERATOR_HOST", "127.0.0.1") or "127.0.0.1",
        port=_int(env, "OPERATOR_PORT", 8050),
        max_body_bytes=_int(env, "OPERATOR_MAX_BODY_BYTES", 1_048_576, minimum=1024),
        max_json_depth=_int(env, "OPERATOR_MAX_JSON_DEPTH", 64, minimum=8),
        event_loop=_choice(env, "OPERATOR_EVENT_LOOP", "auto", ("auto", "uvloop", "asyncio")),
        data_dir=data_dir,
        engine=_choice(env, "OPERATOR_ENGINE", "local", ("local", "argo")),
        environments=_load_environments(env, base),
        postgres_host=_text(env, "POSTGRES_HOST", ""),
        postgres_port=_int(env, "POSTGRES_PORT", 5432, minimum=1),
        postgres_db=_text(env, "POSTGRES_DB", "operator") or "operator",
        postgres_user=_text(env, "POSTGRES_USER", "postgres") or "postgres",
        postgres_password=env.get("POSTGRES_PASSWORD", ""),
        pool_min_size=pool_min,
        pool_max_size=pool_max,
        signature_required=_bool(env, "SIGNATURE_REQUIRED", False),
        allowed_providers=_address_list(env, "ALLOWED_PROVIDERS"),
        allowed_admins=frozenset(a.strip() for a in _address_list(env, "ALLOWED_ADMINS")),
        nonce_window=_int(env, "OPERATOR_NONCE_WINDOW", NONCE_WINDOW_DEFAULT),
        operator_address=_text(env, "OPERATOR_ADDRESS", ""),
        configure_timeout=_int(env, "OPERATOR_CONFIGURE_TIMEOUT", 1800, minimum=1),
        publish_timeout=_int(env, "OPERATOR_PUBLISH_TIMEOUT", 900, minimum=1),
        max_output_bytes=_int(env, "OPERATOR_MAX_OUTPUT_BYTES", 10 * 1024**3, minimum=1),
        scheduler_interval=positive_number(env, "OPERATOR_SCHEDULER_INTERVAL", 1.0),
        resync_interval=positive_number(env, "OPERATOR_RESYNC_INTERVAL", 60.0),
        janitor_interval=positive_number(env, "OPERATOR_JANITOR_INTERVAL", 300.0),
        storage_backend=_choice(env, "OPERATOR_STORAGE", "local", ("local", "s3", "ipfs")),
        results_dir=Path(_text(env, "OPERATOR_RESULTS_DIR", "") or data_dir / "results"),
        s3=S3Settings(
            endpoint=_text(env, "OPERATOR_S3_ENDPOINT", ""),
            bucket=_text(env, "OPERATOR_S3_BUCKET", ""),
            prefix=_text(env, "OPERATOR_S3_PREFIX", "results"),
            region=_text(env, "OPERATOR_S3_REGION", ""),
            access_key=env.get("OPERATOR_S3_ACCESS_KEY", env.get("AWS_ACCESS_KEY_ID", "")),
            secret_key=env.get("OPERATOR_S3_SECRET_KEY", env.get("AWS_SECRET_ACCESS_KEY", "")),
            secure=_bool(env, "OPERATOR_S3_SECURE", True),
            secret_name=_text(env, "OPERATOR_S3_SECRET", ""),
        ),
        ipfs=IpfsSettings(
            url=_text(env, "IPFS_URL", ""),
            api_key=env.get("X-API-KEY", env.get("X_API_KEY", "")),
            client_id=env.get("CLIENT-ID", env.get("CLIENT_ID", "")),
            secret_name=_text(env, "OPERATOR_IPFS_SECRET", ""),
        ),
        step_image=_text(env, "OPERATOR_STEP_IMAGE", "operator-argo:latest")
        or "operator-argo:latest",
        kubeconfig=_text(env, "KUBECONFIG", ""),
        executor_service_account=_text(env, "OPERATOR_EXECUTOR_SA", "") or "operator-argo-executor",
        results_pvc=_text(env, "OPERATOR_RESULTS_PVC", ""),
        storage_class=_text(env, "OPERATOR_STORAGE_CLASS", ""),
        log_level=_choice(env, "LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper(),
        log_format=_choice(env, "LOG_FORMAT", "console", ("json", "console")),
        log_cfg=_text(env, "LOG_CFG", ""),
        **base,
    )
    validate_settings(settings)
    return settings


def read_secret_env(name: str) -> str | None:
    """The value of one secret-bearing variable (an environment's `keyEnv`), read on demand so
    that it is never part of Settings or its repr."""
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


def validate_settings(settings: Settings) -> None:
    """Cross-setting checks that need more than one value."""
    if settings.storage_backend == "s3" and not settings.s3.bucket:
        raise ConfigurationError("OPERATOR_S3_BUCKET is required when OPERATOR_STORAGE=s3")
    if settings.storage_backend == "ipfs" and not settings.ipfs.url:
        raise ConfigurationError("IPFS_URL is required when OPERATOR_STORAGE=ipfs")
    if settings.signature_required and not settings.allowed_providers:
        raise ConfigurationError(
            "ALLOWED_PROVIDERS must list at least one address when SIGNATURE_REQUIRED=1"
        )
