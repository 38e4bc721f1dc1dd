"""The job-pod environment of each workflow step: paths, plain values and Secret references."""

from __future__ import annotations

import json
from typing import Any

from hera.workflows import Env, SecretEnv

from operator_argo.config import Settings
from operator_argo.domain import names
from operator_argo.domain.environment import Environment
from operator_argo.domain.job import Job, did_folder, spec_to_dict

DATA_DIR = "/data"
ADMIN_DIR = "/admin"
RESULT_FILE = "/tmp/operator-argo-result.json"  # noqa: S108 - a path inside the step's own pod
RESULTS_MOUNT = "/results"  # where the local backend's claim is mounted in publish
ALGORITHM_FILE = f"{DATA_DIR}/transformations/algorithm"
ALGORITHM_LOG = f"{DATA_DIR}/logs/algorithm.log"
ENTRYPOINT_VAR = "OPERATOR_ENTRYPOINT"
OUTPUTS_DIR = f"{DATA_DIR}/outputs"
FILTER_DIR = f"{ADMIN_DIR}/{names.FILTER_FOLDER}"  # the filtering step's log and pass mark

EnvList = list[Env | SecretEnv]


def inert_text(text: str) -> str:
    """`text` with no `{{`, so Argo never reads caller-supplied text as a template expression."""
    while "{{" in text:
        text = text.replace("{{", "{ {")
    return text


def inert_json(value: Any) -> str:
    """Sorted JSON of `value` that decodes to the same data but never contains `{{`.

    json.dumps never puts two structural braces side by side, so every `{{` is inside a string,
    where `\\u007b` is the same character.
    """
    return json.dumps(value, sort_keys=True).replace("{{", "{\\u007b")


def env_key_secret_name(environment: Environment) -> str:
    """The Secret holding the environment's private key (a fixed default name when unset)."""
    return environment.key.secret_name or f"operator-argo-env-{environment.id}"


def _step_common(job: Job) -> EnvList:
    return [
        Env(name="OPERATOR_JOB_ID", value=job.job_id),
        Env(name="VOLUME", value=DATA_DIR),
        Env(name="OPERATOR_ADMIN_DIR", value=ADMIN_DIR),
        Env(name="OPERATOR_RESULT_FILE", value=RESULT_FILE),
    ]


def configure_env(job: Job, environment: Environment) -> EnvList:
    """Configure needs the spec, the size limit and the environment key (as a Secret ref)."""
    return [
        *_step_common(job),
        Env(name="OPERATOR_JOB_SPEC", value=inert_json(spec_to_dict(job.spec))),
        Env(name="OPERATOR_MAX_INPUT_BYTES", value=str(environment.disk_gb * 1024**3)),
        SecretEnv(
            name="OPERATOR_ENV_KEY",
            secret_name=env_key_secret_name(environment),
            secret_key=environment.key.secret_key,
            # Without a configured Secret the default one may be absent: configure still runs
            # and fails only the inputs that need a signed provider download.
            optional=None if environment.key.secret_name else True,
        ),
    ]


# (env var, entry in the Secret) of each backend's credentials; values never enter the spec.
S3_SECRET_ENTRIES = (
    ("OPERATOR_S3_ACCESS_KEY", "accessKey"),
    ("OPERATOR_S3_SECRET_KEY", "secretKey"),
)
IPFS_SECRET_ENTRIES = (("X_API_KEY", "apiKey"), ("CLIENT_ID", "clientId"))


def _secret_refs(
    secret_name: str, entries: tuple[tuple[str, str], ...], *, optional: bool
) -> EnvList:
    if not secret_name:
        return []  # no Secret configured: credentials come from the pod's identity, if at all
    return [
        SecretEnv(name=name, secret_name=secret_name, secret_key=entry, optional=optional or None)
        for name, entry in entries
    ]


def _storage_env(settings: Settings) -> EnvList:
    if settings.storage_backend == "s3":
        s3 = settings.s3
        return [
            Env(name="OPERATOR_S3_ENDPOINT", value=s3.endpoint),
            Env(name="OPERATOR_S3_BUCKET", value=s3.bucket),
            Env(name="OPERATOR_S3_PREFIX", value=s3.prefix),
            Env(name="OPERATOR_S3_REGION", value=s3.region),
            Env(name="OPERATOR_S3_SECURE", value="1" if s3.secure else "0"),
            *_secret_refs(s3.secret_name, S3_SECRET_ENTRIES, optional=False),
        ]
    if settings.storage_backend == "ipfs":
        return [
            Env(name="IPFS_URL", value=settings.ipfs.url),
            # A node may need only one of the two headers: a missing entry is fine.
            *_secret_refs(settings.ipfs.secret_name, IPFS_SECRET_ENTRIES, optional=True),
        ]
    results_dir = RESULTS_MOUNT if settings.results_pvc else str(settings.results_dir)
    return [Env(name="OPERATOR_RESULTS_DIR", value=results_dir)]


# Argo fills this in when it starts the exit handler: the operator's reason for ending the
# workflow early (empty when it did not), which publish writes into the job's logs. Fixed text of
# ours: the only `{{...}}` expression in a built workflow.
STOP_REASON_VALUE = "{{workflow.annotations." + names.STOP_REASON_ANNOTATION + "}}"


def publish_env(job: Job, environment: Environment, settings: Settings) -> EnvList:
    """Publish needs the result storage: plain settings as values, credentials as Secret refs;
    and, in an environment with a filtering step, to publish outputs only when it passed."""
    filtered = [Env(name="OPERATOR_FILTERED", value="1")] if environment.filter else []
    return [
        *_step_common(job),
        Env(name="OPERATOR_STOP_REASON", value=STOP_REASON_VALUE),
        Env(name="OPERATOR_STORAGE", value=settings.storage_backend),
        Env(name="OPERATOR_MAX_OUTPUT_BYTES", value=str(settings.max_output_bytes)),
        *filtered,
        *_storage_env(settings),
    ]


def _job_dids(job: Job) -> EnvList:
    algo_did = job.spec.algorithm.did or ""
    return [
        Env(name="DIDS", value=inert_json([item.folder for item in job.spec.inputs])),
        Env(name="TRANSFORMATION_DID", value=inert_text(did_folder(algo_did))),
    ]


def filter_env(job: Job) -> EnvList:
    """What the filtering step is told: which job it filters, and where the outputs are."""
    return [*_job_dids(job), Env(name="OUTPUTS", value=OUTPUTS_DIR)]


def algorithm_env(job: Job, entrypoint: str) -> EnvList:
    """What the algorithm is told (CONTRACT §8), plus its encoded entrypoint for the launcher."""
    return [
        *_job_dids(job),
        Env(name="VOLUME", value=DATA_DIR),
        Env(name="LOGS", value=f"{DATA_DIR}/logs"),
        Env(name="INPUTS", value=f"{DATA_DIR}/inputs"),
        Env(name="OUTPUTS", value=OUTPUTS_DIR),
        Env(name=ENTRYPOINT_VAR, value=entrypoint),
    ]
