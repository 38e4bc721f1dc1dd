"""Settings: read once from the environment, validated, frozen, and passed down.

Each setting is declared once, as its field: `setting(ENV_NAME, default, doc, ...)` carries the
variable, the default, the unit, a one-line doc, the chart value that sets it, whether it is a
secret (kept out of repr), and how its text is read. `load_settings` reads every declared field;
the settings tables of README.md and docs/operations.md are generated from the declarations
(`python -m operator_argo.config_docs --write`; `--check` fails when they drift).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from operator_argo.config_environments import load_environments, parse_environment
from operator_argo.config_readers import (
    DECLARED,
    Declared,
    Env,
    address_list,
    boolean,
    choice,
    derived,
    group,
    integer,
    nonempty_text,
    path,
    positive_number,
    raw_text,
    receiver_url,
    setting,
)
from operator_argo.domain.environment import Environment
from operator_argo.domain.errors import ConfigurationError
from operator_argo.domain.notice import NoticeKind

__all__ = ["IpfsSettings", "S3Settings", "Settings", "load_settings", "parse_environment"]

SECONDS = "seconds"
BYTES = "bytes"

# Providers send nanosecond timestamps as nonces: ten minutes of them. A nonce further below its
# signer's highest is refused, and older nonces can be forgotten (the janitor prunes them).
# 0 turns both off: any unseen nonce is accepted and every nonce is kept.
NONCE_WINDOW_DEFAULT = 600 * 10**9

# Read on demand (auth.keys), never stored in Settings.
PRIVATE_KEY = Declared(
    env="OPERATOR_PRIVATE_KEY",
    default="",
    doc="hex private key of the default environment when `OPERATOR_ENVIRONMENTS` is empty "
    "(signs provider downloads); generated on the embedded defaults",
    secret=True,
    chart="(not set)",
    read=raw_text,
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class S3Settings:
    """S3-compatible result storage (AWS S3, MinIO, Ceph)."""

    endpoint: str = setting(
        "OPERATOR_S3_ENDPOINT",
        "",
        "S3-compatible endpoint (host[:port] or URL); empty = AWS",
        chart="storage.s3.endpoint",
    )
    bucket: str = setting(
        "OPERATOR_S3_BUCKET", "", "bucket (required for `s3`)", chart="storage.s3.bucket"
    )
    prefix: str = setting(
        "OPERATOR_S3_PREFIX", "results", "key prefix inside the bucket", chart="storage.s3.prefix"
    )
    region: str = setting("OPERATOR_S3_REGION", "", "bucket region", chart="storage.s3.region")
    access_key: str = setting(
        "OPERATOR_S3_ACCESS_KEY",
        "",
        "access key",
        aliases=("AWS_ACCESS_KEY_ID",),
        secret=True,
        read=raw_text,
        chart="`storage.s3.existingSecret` / `storage.s3.accessKey`",
    )
    secret_key: str = setting(
        "OPERATOR_S3_SECRET_KEY",
        "",
        "secret key",
        aliases=("AWS_SECRET_ACCESS_KEY",),
        secret=True,
        read=raw_text,
        chart="`storage.s3.existingSecret` / `storage.s3.secretKey`",
    )
    secure: bool = setting(
        "OPERATOR_S3_SECURE", True, "`1` = https", read=boolean, chart="storage.s3.secure"
    )
    secret_name: str = setting(
        "OPERATOR_S3_SECRET",
        "",
        "name of the Kubernetes Secret (keys `accessKey`, `secretKey`) job pods read",
        chart="storage.s3.existingSecret",
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class IpfsSettings:
    """IPFS result storage through a node's HTTP API."""

    url: str = setting(
        "IPFS_URL", "", "IPFS node HTTP API (required for `ipfs`)", chart="storage.ipfs.url"
    )
    api_key: str = setting(
        "X_API_KEY",
        "",
        "sent as the `X-API-KEY` header",
        aliases=("X-API-KEY",),
        secret=True,
        read=raw_text,
        chart="`storage.ipfs.existingSecret` / `storage.ipfs.apiKey`",
    )
    client_id: str = setting(
        "CLIENT_ID",
        "",
        "sent as the `CLIENT-ID` header",
        aliases=("CLIENT-ID",),
        secret=True,
        read=raw_text,
        chart="`storage.ipfs.existingSecret` / `storage.ipfs.clientId`",
    )
    secret_name: str = setting(
        "OPERATOR_IPFS_SECRET",
        "",
        "name of the Kubernetes Secret (keys `apiKey`, `clientId`) job pods read",
        chart="storage.ipfs.existingSecret",
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting of operator-argo (each declared once: module docstring)."""

    # --- HTTP server
    host: str = setting(
        "OPERATOR_HOST",
        "127.0.0.1",
        "listen address",
        read=nonempty_text,
        chart="(always `0.0.0.0`)",
    )
    port: int = setting("OPERATOR_PORT", 8050, "listen port", read=integer(), chart="operator.port")
    max_body_bytes: int = setting(
        "OPERATOR_MAX_BODY_BYTES",
        1_048_576,
        "largest accepted request body (at least 1024; 413 beyond)",
        unit=BYTES,
        read=integer(minimum=1024),
        chart="operator.maxBodyBytes",
    )
    max_json_depth: int = setting(
        "OPERATOR_MAX_JSON_DEPTH",
        64,
        "deepest accepted JSON nesting (at least 8; 400 beyond)",
        read=integer(minimum=8),
        chart="operator.maxJsonDepth",
    )
    header_timeout: float = setting(
        "OPERATOR_HEADER_TIMEOUT",
        10.0,
        "time to send a request's headers, counted from connecting or from the previous "
        "response; also how long an idle keep-alive connection stays open (raise it above the "
        "idle timeout of a load balancer that keeps connections to the pods open)",
        unit=SECONDS,
        read=positive_number,
        chart="operator.headerTimeout",
    )
    body_timeout: float = setting(
        "OPERATOR_BODY_TIMEOUT",
        30.0,
        "time to send a request's whole body; a slower client gets a 408 and its connection "
        "is closed; also the time a client may take to read each chunk of a streamed listing",
        unit=SECONDS,
        read=positive_number,
        chart="operator.bodyTimeout",
    )
    max_connections: int = setting(
        "OPERATOR_MAX_CONNECTIONS",
        512,
        "most open client connections per replica (shared out over its workers); past it a "
        "new connection gets a 503 "
        "(`Retry-After: 1`) and is closed; keep it below the descriptor limit (`ulimit -n`)",
        read=integer(minimum=1),
        chart="operator.maxConnections",
    )
    log_streams_per_owner: int = setting(
        "OPERATOR_LOG_STREAMS_PER_OWNER",
        3,
        "most computeLogs streams one owner may hold open at once on a replica; a 429 beyond",
        read=integer(minimum=1),
        chart="operator.logStreamsPerOwner",
    )
    event_loop: str = setting(
        "OPERATOR_EVENT_LOOP",
        "auto",
        "`auto` (uvloop when installed, as it is by default), `uvloop` (required) or `asyncio`; "
        "a fifth less CPU per signed request with uvloop; `serve` only",
        read=choice("auto", "uvloop", "asyncio"),
        chart="operator.eventLoop",
    )
    workers: int = setting(
        "OPERATOR_WORKERS",
        1,
        "HTTP processes sharing the port (`serve --workers` overrides); one of them also runs "
        "the scheduler, watcher, janitor and notices; above 1 each has its own database pool "
        "and OPERATOR_ENGINE must be `argo`; `serve` only",
        read=integer(minimum=1),
        chart="operator.workers",
    )
    # --- data and engine
    data_dir: Path = setting(
        "OPERATOR_DATA_DIR",
        Path(".data"),
        "scratch directory: embedded database, generated keys, local results and job "
        "directories; an emptyDir in the chart",
        read=path,
        chart="operator.dataDir",
    )
    engine: str = setting(
        "OPERATOR_ENGINE",
        "local",
        "`local` (this machine) or `argo` (Argo Workflows on Kubernetes, the chart's default)",
        read=choice("local", "argo"),
        chart="operator.engine",
    )
    environments: tuple[Environment, ...] = setting(
        "OPERATOR_ENVIRONMENTS",
        (),
        "the compute environments: a YAML/JSON list, or a path to a file holding it; the chart "
        "mounts a ConfigMap and passes its path",
        read=derived,
        shown="one environment named after `DEFAULT_NAMESPACE`",
        chart="environments",
    )
    # --- database
    postgres_host: str = setting(
        "POSTGRES_HOST",
        "",
        "database host (a path = unix socket directory); empty = embedded PostgreSQL under the "
        "data directory",
        chart="postgresql.host",
    )
    postgres_port: int = setting(
        "POSTGRES_PORT", 5432, "database port", read=integer(minimum=1), chart="postgresql.port"
    )
    postgres_db: str = setting(
        "POSTGRES_DB", "operator", "database name", read=nonempty_text, chart="postgresql.database"
    )
    postgres_user: str = setting(
        "POSTGRES_USER", "postgres", "database user", read=nonempty_text, chart="postgresql.user"
    )
    postgres_password: str = setting(
        "POSTGRES_PASSWORD",
        "",
        "database password, always from a Secret in the chart",
        secret=True,
        read=raw_text,
        chart="`postgresql.existingSecret` / `postgresql.password`",
    )
    pool_min_size: int = setting(
        "OPERATOR_POOL_MIN",
        2,
        "database connections kept open",
        read=integer(minimum=1),
        chart="postgresql.poolMinSize",
    )
    pool_max_size: int = setting(
        "OPERATOR_POOL_MAX",
        10,
        "most database connections per serving process (at least `OPERATOR_POOL_MIN`)",
        read=integer(minimum=1),
        chart="postgresql.poolMaxSize",
    )
    db_timeout: float = setting(
        "OPERATOR_DB_TIMEOUT",
        2.0,
        "most a call waits for the database; while it is unreachable calls get a 503 with "
        "`Retry-After` within about this time",
        unit=SECONDS,
        read=positive_number,
        chart="postgresql.timeout",
    )
    # --- auth
    signature_required: bool = setting(
        "SIGNATURE_REQUIRED",
        False,
        "`1`: every signed route needs a provider signature over the nonce from "
        "`ALLOWED_PROVIDERS`",
        read=boolean,
        chart="auth.signatureRequired",
    )
    allowed_providers: frozenset[str] = setting(
        "ALLOWED_PROVIDERS",
        frozenset(),
        "JSON list of provider addresses allowed to call (a comma-separated list is accepted; "
        "required with `SIGNATURE_REQUIRED=1`)",
        read=address_list,
        chart="`auth.existingSecret` / `auth.allowedProviders`",
    )
    allowed_admins: frozenset[str] = setting(
        "ALLOWED_ADMINS",
        frozenset(),
        "JSON list of admin addresses accepted in the `Admin` header of `POST /pgsqlinit`",
        read=address_list,
        chart="`auth.existingSecret` / `auth.allowedAdmins`",
    )
    nonce_window: int = setting(
        "OPERATOR_NONCE_WINDOW",
        NONCE_WINDOW_DEFAULT,
        "reject nonces this far below the signer's highest seen (default: 10 minutes of "
        "nanosecond-timestamp nonces); the janitor forgets nonces below that; `0` = any unseen "
        "nonce, every nonce kept forever",
        read=integer(),
        chart="operator.nonceWindow",
    )
    # --- jobs
    operator_address: str = setting(
        "OPERATOR_ADDRESS",
        "",
        "the operator's address, reported by `GET /`",
        chart="operator.address",
    )
    algo_pod_timeout: int = setting(
        "ALGO_POD_TIMEOUT",
        3600,
        "default algorithm time limit (environments without `maxJobDuration`)",
        unit=SECONDS,
        read=integer(minimum=1),
        chart="operator.algoPodTimeout",
    )
    storage_expiry: int = setting(
        "STORAGE_EXPIRY",
        0,
        "how long results are kept; `0` = forever; an environment's `storageExpiry` wins",
        unit=SECONDS,
        read=integer(),
        chart="operator.storageExpiry",
    )
    default_namespace: str = setting(
        "DEFAULT_NAMESPACE",
        "ocean-compute",
        "id and namespace of the default environment, namespace of environments that name none",
        read=nonempty_text,
        chart="operator.defaultNamespace",
    )
    configure_timeout: int = setting(
        "OPERATOR_CONFIGURE_TIMEOUT",
        1800,
        "deadline of the configure step",
        unit=SECONDS,
        read=integer(minimum=1),
        chart="operator.configureTimeout",
    )
    publish_timeout: int = setting(
        "OPERATOR_PUBLISH_TIMEOUT",
        900,
        "deadline of the publish step",
        unit=SECONDS,
        read=integer(minimum=1),
        chart="operator.publishTimeout",
    )
    max_output_bytes: int = setting(
        "OPERATOR_MAX_OUTPUT_BYTES",
        10 * 1024**3,
        "most bytes of outputs one job may publish",
        unit=BYTES,
        read=integer(minimum=1),
        chart="operator.maxOutputBytes",
    )
    scheduler_interval: float = setting(
        "OPERATOR_SCHEDULER_INTERVAL",
        1.0,
        "period of the admission queue's passes",
        unit=SECONDS,
        read=positive_number,
        chart="operator.schedulerInterval",
    )
    resync_interval: float = setting(
        "OPERATOR_RESYNC_INTERVAL",
        60.0,
        "period of the Argo watcher's full relist",
        unit=SECONDS,
        read=positive_number,
        chart="operator.resyncInterval",
    )
    start_grace: float = setting(
        "OPERATOR_START_GRACE",
        120.0,
        "how long an algorithm's container may keep failing to start (its image cannot be "
        "pulled, its configuration is refused) before the job ends with that reason; an invalid "
        "image reference ends it at once (Argo)",
        unit=SECONDS,
        read=positive_number,
        chart="operator.startGrace",
    )
    janitor_interval: float = setting(
        "OPERATOR_JANITOR_INTERVAL",
        300.0,
        "period of the janitor: result expiry, overdue jobs, old nonces",
        unit=SECONDS,
        read=positive_number,
        chart="operator.janitorInterval",
    )
    # --- notices
    notify_start_url: str = setting(
        "NOTIFY_START_URL",
        "",
        "where a signed JSON notice is POSTed when a job starts (before configure); empty = "
        "none; an environment's `notifyStartUrl` wins",
        read=receiver_url,
        chart="notify.startUrl",
    )
    notify_stop_url: str = setting(
        "NOTIFY_STOP_URL",
        "",
        "where a signed JSON notice is POSTed when a job has finished (its final status "
        "stored); empty = none; an environment's `notifyStopUrl` wins",
        read=receiver_url,
        chart="notify.stopUrl",
    )
    notify_timeout: float = setting(
        "OPERATOR_NOTIFY_TIMEOUT",
        10.0,
        "how long one delivery attempt of a notice may take",
        unit=SECONDS,
        read=positive_number,
        chart="notify.timeout",
    )
    notify_backoff_cap: float = setting(
        "OPERATOR_NOTIFY_BACKOFF_CAP",
        300.0,
        "longest wait between two attempts to deliver a notice (1 s, 2 s, 4 s ... up to this)",
        unit=SECONDS,
        read=positive_number,
        chart="notify.backoffCap",
    )
    notify_expiry: int = setting(
        "OPERATOR_NOTIFY_EXPIRY",
        86_400,
        "a notice no receiver accepted within this time is given up (logged and counted)",
        unit=SECONDS,
        read=integer(minimum=1),
        chart="notify.expiry",
    )
    notify_interval: float = setting(
        "OPERATOR_NOTIFY_INTERVAL",
        1.0,
        "period of the notice loop's look for notices due",
        unit=SECONDS,
        read=positive_number,
        chart="notify.interval",
    )
    # --- result storage
    storage_backend: str = setting(
        "OPERATOR_STORAGE",
        "local",
        "result storage: `local`, `s3` or `ipfs`",
        read=choice("local", "s3", "ipfs"),
        chart="storage.backend",
    )
    results_dir: Path = setting(
        "OPERATOR_RESULTS_DIR",
        Path(".data/results"),
        "directory of the local result storage",
        read=derived,
        shown="`<data dir>/results`",
        chart="storage.local.resultsDir",
    )
    s3: S3Settings = group(S3Settings)
    ipfs: IpfsSettings = group(IpfsSettings)
    # --- argo engine
    step_image: str = setting(
        "OPERATOR_STEP_IMAGE",
        "operator-argo:latest",
        "image of the configure and publish steps (Argo); the chart uses its own image",
        read=nonempty_text,
        chart="operator.stepImage",
    )
    kubeconfig: str = setting(
        "KUBECONFIG",
        "",
        "kubeconfig file; empty = the in-cluster service account",
        chart="(not set)",
    )
    executor_service_account: str = setting(
        "OPERATOR_EXECUTOR_SA",
        "operator-argo-executor",
        "service account of Argo's executor (the wait container) in job pods; job containers "
        "get no token; the chart makes it, with its Role, in every environment namespace",
        read=nonempty_text,
        chart="executor.serviceAccountName",
    )
    results_pvc: str = setting(
        "OPERATOR_RESULTS_PVC",
        "",
        "the claim the local result storage lives on in a cluster; publish pods mount it too",
        chart="`storage.local.existingClaim` / `storage.local.persistence`",
    )
    storage_class: str = setting(
        "OPERATOR_STORAGE_CLASS",
        "",
        "storage class of job volumes; empty = the cluster default",
        chart="operator.jobStorageClass",
    )
    keep_finished: int = setting(
        "OPERATOR_KEEP_FINISHED",
        3600,
        "how long a finished job's workflow stays in the cluster (and the Argo UI) once its final "
        "state is stored, removed by Argo's ttlStrategy; its pods and volume go when it "
        "completes; `0` = deleted at once (Argo)",
        unit=SECONDS,
        read=integer(),
        chart="operator.keepFinished",
    )
    keep_failed: int = setting(
        "OPERATOR_KEEP_FAILED",
        0,
        "how long a failed job's workflow is kept **with its pods and job volume**, for "
        "debugging; at least `OPERATOR_KEEP_FINISHED`; `0` = failed jobs are kept like the others "
        "(Argo)",
        unit=SECONDS,
        read=integer(),
        chart="operator.keepFailed",
    )
    # --- logs
    log_level: str = setting(
        "LOG_LEVEL",
        "INFO",
        "`debug`, `info`, `warning` or `error`",
        read=choice("debug", "info", "warning", "error", upper=True),
        shown="`info`",
        chart="logging.level",
    )
    log_format: str = setting(
        "LOG_FORMAT",
        "console",
        "`json` (the chart's default) or `console`",
        read=choice("json", "console"),
        chart="logging.format",
    )
    log_cfg: str = setting(
        "LOG_CFG",
        "",
        "a logging dictConfig file (YAML/JSON) that replaces the built-in handlers; the chart "
        "mounts the value as a file",
        chart="logging.config",
    )

    def environment(self, env_id: str) -> Environment | None:
        """The environment called `env_id`, if configured."""
        for env in self.environments:
            if env.id == env_id:
                return env
        return None

    def notice_url(self, environment: Environment, kind: NoticeKind) -> str:
        """Where `environment`'s notices of `kind` go ("" = nowhere): its own URL, else the
        global one."""
        own = (
            environment.notify_start_url
            if kind is NoticeKind.START
            else environment.notify_stop_url
        )
        if own is not None:
            return own
        return self.notify_start_url if kind is NoticeKind.START else self.notify_stop_url

    def notified_environments(self, kind: NoticeKind) -> frozenset[str]:
        """Ids of the environments whose jobs get notices of `kind`."""
        return frozenset(env.id for env in self.environments if self.notice_url(env, kind))

    @property
    def embedded_postgres(self) -> bool:
        return not self.postgres_host


def declarations(kind: type = Settings) -> Iterator[Declared]:
    """Every declared setting of `kind` and its groups, in declaration order, then the ones
    read on demand."""
    for field in dataclasses.fields(kind):
        if DECLARED in field.metadata:
            yield field.metadata[DECLARED]
        elif isinstance(field.type, str) and field.type in _GROUPS:
            yield from declarations(_GROUPS[field.type])
    if kind is Settings:
        yield PRIVATE_KEY


_GROUPS: dict[str, type] = {"S3Settings": S3Settings, "IpfsSettings": IpfsSettings}


def _read_fields(kind: type, env: Env) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in dataclasses.fields(kind):
        if DECLARED in field.metadata:
            values[field.name] = field.metadata[DECLARED].value(env)
        elif isinstance(field.type, str) and field.type in _GROUPS:
            group = _GROUPS[field.type]
            values[field.name] = group(**_read_fields(group, env))
    return values


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read every declared setting from `env` (default: the process environment); raise
    ConfigurationError naming the first bad setting."""
    env = os.environ if env is None else env
    values = _read_fields(Settings, env)
    # Settings whose default depends on others (declared with `read=derived`).
    values["results_dir"] = path(env, "OPERATOR_RESULTS_DIR", values["data_dir"] / "results")
    values["environments"] = load_environments(env, values, key_variable=PRIVATE_KEY.env)
    settings = Settings(**values)
    validate_settings(settings)
    return settings


METRICS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus-client itself


def metrics_directory() -> str | None:
    """Where the serving processes of one replica write their metrics (processes.py), or None
    in a process serving alone."""
    return os.environ.get(METRICS_DIRECTORY) or None


def child_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of a child process: this process's, with `extra` added."""
    return {**os.environ, **extra}


def read_secret_env(name: str) -> str | None:
    """The value of one secret-bearing variable (an environment's `keyEnv`), read on demand so
    that it is never part of Settings or its repr."""
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


def validate_settings(settings: Settings) -> None:
    """Cross-setting checks that need more than one value."""
    if settings.pool_max_size < settings.pool_min_size:
        raise ConfigurationError(
            f"OPERATOR_POOL_MAX ({settings.pool_max_size}) must be >= "
            f"OPERATOR_POOL_MIN ({settings.pool_min_size})"
        )
    if settings.storage_backend == "s3" and not settings.s3.bucket:
        raise ConfigurationError("OPERATOR_S3_BUCKET is required when OPERATOR_STORAGE=s3")
    if settings.storage_backend == "ipfs" and not settings.ipfs.url:
        raise ConfigurationError("IPFS_URL is required when OPERATOR_STORAGE=ipfs")
    if 0 < settings.keep_failed < settings.keep_finished:
        raise ConfigurationError(
            f"OPERATOR_KEEP_FAILED ({settings.keep_failed}) must be 0 or at least "
            f"OPERATOR_KEEP_FINISHED ({settings.keep_finished})"
        )
    if settings.workers > 1 and settings.engine != "argo":
        # A local job's processes belong to the process that started them: a stop or delete
        # answered by another worker could not reach them.
        raise ConfigurationError("OPERATOR_WORKERS above 1 needs OPERATOR_ENGINE=argo")
    if settings.signature_required and not settings.allowed_providers:
        raise ConfigurationError(
            "ALLOWED_PROVIDERS must list at least one address when SIGNATURE_REQUIRED=1"
        )
