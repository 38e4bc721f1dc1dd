"""The Argo Workflow of one job (configure -> algorithm, publish on exit), built with hera; pure."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import math
import re
from typing import Any

from hera.workflows import (
    Container,
    Env,
    Parameter,
    Resources,
    SecretEnv,
    Step,
    Steps,
    Volume,
    Workflow,
)
from hera.workflows.models import (
    Capabilities,
    ExecutorConfig,
    Metadata,
    PersistentVolumeClaimVolumeSource,
    PodGC,
    PodSecurityContext,
    SeccompProfile,
    SecurityContext,
    ValueFrom,
    VolumeClaimGC,
    VolumeMount,
)
from hera.workflows.models import Template as ModelTemplate
from hera.workflows.models import Volume as PodVolume
from hera.workflows.protocol import Templatable

from operator_argo.config import Settings
from operator_argo.domain import names
from operator_argo.domain.clock import SYSTEM_CLOCK
from operator_argo.domain.deadlines import workflow_deadline
from operator_argo.domain.environment import Environment, FilterStep
from operator_argo.domain.job import (
    Address,
    AlgorithmSpec,
    ContainerSpec,
    Job,
    JobId,
    JobSpec,
)
from operator_argo.domain.status import JobStatus
from operator_argo.engines.argo import builder_env as env
from operator_argo.engines.argo import placement, retention
from operator_argo.engines.argo.builder_algorithm import (
    LAUNCHER,
    algorithm_image,
    encode_entrypoint,
    resolve_entrypoint,
)

STEP_UID = 10001  # the uid the operator image's step programs run as
JOB_VOLUME = "job"
RESULTS_VOLUME = "results"

_LABEL_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


def label_value(text: str) -> str:
    """`text` as a valid Kubernetes label value (<= 63 chars, alphanumeric at both ends)."""
    return _LABEL_BAD.sub("-", text)[:63].strip("-_.")


def algorithm_deadline(job: Job, environment: Environment, now: dt.datetime) -> int:
    """Seconds the algorithm may run: maxJobDuration, cut short by validUntil (at least 1)."""
    limit = environment.max_job_duration
    if job.valid_until is not None:
        limit = min(limit, math.floor(job.valid_until - now.timestamp()))
    return max(1, limit)


def _security(*, non_root: bool) -> SecurityContext:
    return SecurityContext(
        allow_privilege_escalation=False,
        capabilities=Capabilities(drop=["ALL"]),
        seccomp_profile=SeccompProfile(type="RuntimeDefault"),
        run_as_non_root=True if non_root else None,
        run_as_user=STEP_UID if non_root else None,
        run_as_group=STEP_UID if non_root else None,
    )


def _mounts(*, admin: bool, results: bool = False) -> list[VolumeMount]:
    mounts = [VolumeMount(name=JOB_VOLUME, mount_path=env.DATA_DIR, sub_path="data")]
    if admin:
        mounts.append(VolumeMount(name=JOB_VOLUME, mount_path=env.ADMIN_DIR, sub_path="admin"))
    if results:
        mounts.append(VolumeMount(name=RESULTS_VOLUME, mount_path=env.RESULTS_MOUNT))
    return mounts


def _step_container(
    name: str, job: Job, settings: Settings, *, deadline: int, env_list: env.EnvList, results: bool
) -> Container:
    """configure or publish: the operator's own program, non-root, reporting a JSON result."""
    return Container(
        name=name,
        image=settings.step_image,
        command=["operator-argo", "step", name],
        env=env_list,
        active_deadline_seconds=deadline,
        security_context=_security(non_root=True),
        volume_mounts=_mounts(admin=True, results=results),
        outputs=[
            Parameter(name=names.RESULT_PARAMETER, value_from=ValueFrom(path=env.RESULT_FILE))
        ],
        labels={names.STEP_LABEL: name, names.JOB_ID_LABEL: job.job_id},
    )


def _uses_results_claim(settings: Settings) -> bool:
    return settings.storage_backend == "local" and bool(settings.results_pvc)


def _resources(environment: Environment) -> Resources:
    """Requests equal limits (a guaranteed pod); a zero in the environment means "not set"."""
    cpu = environment.cpu_number or None
    memory = f"{environment.ram_gb}Gi" if environment.ram_gb else None
    return Resources(
        cpu_request=cpu,
        cpu_limit=cpu,
        memory_request=memory,
        memory_limit=memory,
        gpus=environment.gpu_number or None,
    )


def _algorithm(job: Job, environment: Environment, deadline: int) -> Container:
    entrypoint = resolve_entrypoint(job.spec.algorithm.container.entrypoint)
    return Container(
        name="algorithm",
        image=env.inert_text(algorithm_image(job.spec.algorithm.container)),
        command=["sh", "-c", LAUNCHER],
        env=env.algorithm_env(job, encode_entrypoint(entrypoint)),
        active_deadline_seconds=deadline,
        # The algorithm may need root inside its image; it still gets no privilege escalation,
        # no capabilities, the default seccomp profile and no service-account token.
        security_context=_security(non_root=False),
        resources=_resources(environment),
        volume_mounts=_mounts(admin=False),
        labels={
            names.STEP_LABEL: "algorithm",
            names.JOB_ID_LABEL: job.job_id,
            names.NETWORK_LABEL: "allow" if environment.allow_network else "deny",
        },
        **placement.job_code_placement(environment, runtime=True),
    )


# The filtering step's output goes to its log in its admin folder and, through `tee` as for the
# algorithm, to the container's own output (`kubectl logs`, the Argo UI); the command's status
# travels apart on descriptor 4. The pass mark is left only when the command succeeded: a
# failure, a stop or a deadline leaves none, and publish then withholds the outputs. An image
# without `tee` still gets the log file. The command comes from the operator's configuration,
# never from a request.
FILTER_LOG = f"{env.FILTER_DIR}/{names.FILTER_LOG}"
FILTER_PASSED = f"{env.FILTER_DIR}/{names.FILTER_PASSED}"
FILTER_LAUNCHER = (
    "if command -v tee >/dev/null 2>&1; then "
    "exec 3>&1; "
    'status=$( { { "$@" 2>&1 3>&- 4>&-; echo $? >&4; } '
    f"| tee {FILTER_LOG} >&3 3>&- 4>&-; }} 4>&1 ); "
    f'if [ "$status" = 0 ]; then : >{FILTER_PASSED}; fi; '
    'exit "${status:-1}"; '
    "fi; "
    f'exec >{FILTER_LOG} 2>&1; "$@" && : >{FILTER_PASSED}'
)


def _filter(job: Job, environment: Environment, step: FilterStep) -> Container:
    """The data owner's filter: the outputs read-write and its own admin folder; no inputs,
    no logs of the other steps, no network (it is labelled like the algorithm without one)."""
    return Container(
        name="filter",
        image=env.inert_text(step.image),
        command=["sh", "-c", FILTER_LAUNCHER, "filter", *map(env.inert_text, step.command)],
        env=env.filter_env(job),
        working_dir=env.OUTPUTS_DIR,
        active_deadline_seconds=step.timeout,
        security_context=_security(non_root=False),
        resources=_resources(dataclasses.replace(environment, gpu_number=0)),
        volume_mounts=[
            VolumeMount(name=JOB_VOLUME, mount_path=env.OUTPUTS_DIR, sub_path="data/outputs"),
            VolumeMount(
                name=JOB_VOLUME, mount_path=env.FILTER_DIR, sub_path=f"admin/{names.FILTER_FOLDER}"
            ),
        ],
        labels={
            names.STEP_LABEL: "filter",
            names.JOB_ID_LABEL: job.job_id,
            names.NETWORK_LABEL: "deny",
        },
        **placement.job_code_placement(environment, runtime=False),
    )


def _metadata(job: Job, environment: Environment) -> dict[str, dict[str, str]]:
    algo = job.spec.algorithm
    description = (
        f"Algorithm {job.algo_did} ({algorithm_image(algo.container)}); "
        f"inputs {', '.join(job.input_dids) or 'none'}; owner {job.owner}; "
        f"environment {environment.id}"
    )
    return {
        "labels": {
            names.MANAGED_BY_LABEL: names.MANAGED_BY,
            names.JOB_ID_LABEL: job.job_id,
            names.ENVIRONMENT_LABEL: label_value(environment.id),
            names.OWNER_LABEL: label_value(job.owner.lower()),
        },
        "annotations": {
            names.TITLE_ANNOTATION: f"C2D job {job.job_id}",
            names.DESCRIPTION_ANNOTATION: env.inert_text(description),
            names.AGREEMENT_ANNOTATION: env.inert_text(job.agreement_id),
            names.STOP_REASON_ANNOTATION: "",  # set when the operator ends the workflow
        },
    }


def _volumes(environment: Environment, settings: Settings) -> list[Any]:
    volumes: list[Any] = [
        Volume(
            name=JOB_VOLUME,
            size=f"{environment.disk_gb}Gi",
            access_modes=["ReadWriteOnce"],
            storage_class_name=settings.storage_class or None,
        )
    ]
    if _uses_results_claim(settings):
        claim = PersistentVolumeClaimVolumeSource(claim_name=settings.results_pvc)
        volumes.append(PodVolume(name=RESULTS_VOLUME, persistent_volume_claim=claim))
    return volumes


def _templates(
    job: Job, environment: Environment, settings: Settings, algo_deadline: int
) -> list[ModelTemplate | Templatable]:
    configure = _step_container(
        "configure",
        job,
        settings,
        deadline=settings.configure_timeout,
        env_list=env.configure_env(job, environment),
        results=False,
    )
    algorithm = _algorithm(job, environment, algo_deadline)
    publish = _step_container(
        "publish",
        job,
        settings,
        deadline=settings.publish_timeout,
        env_list=env.publish_env(job, environment, settings),
        results=_uses_results_claim(settings),
    )
    steps = {"configure": configure, "algorithm": algorithm}
    if environment.filter is not None:
        steps["filter"] = _filter(job, environment, environment.filter)
    main = Steps(
        name="main", sub_steps=[Step(name=name, template=step) for name, step in steps.items()]
    )
    return [main, *steps.values(), publish]


def _pod_defaults(job: Job, environment: Environment, settings: Settings) -> dict[str, Any]:
    """Settings for every pod: no service-account token, one fsGroup, seccomp, job labels, and
    the environment's placement (placement.py)."""
    return {
        **placement.workflow_placement(environment),
        "automount_service_account_token": False,
        # Argo refuses tokenless pods unless its executor (the wait container) has an account.
        "executor": ExecutorConfig(service_account_name=settings.executor_service_account),
        "security_context": PodSecurityContext(
            fs_group=STEP_UID,
            fs_group_change_policy="OnRootMismatch",
            seccomp_profile=SeccompProfile(type="RuntimeDefault"),
        ),
        "pod_metadata": Metadata(
            labels={
                names.MANAGED_BY_LABEL: names.MANAGED_BY,
                names.JOB_ID_LABEL: job.job_id,
                names.ENVIRONMENT_LABEL: label_value(environment.id),
            }
        ),
    }


def build_workflow(
    job: Job,
    environment: Environment,
    settings: Settings,
    *,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The Argo Workflow manifest (a plain dict) that runs `job` in `environment`.

    hera builds the workflow's shape once per (environment, settings); each job gets a copy with
    its own values filled in (`_fill`), which is ten times cheaper than a full hera build on the
    scheduler's hot path. `build_workflow_with_hera` is the full build; tests hold the two equal.
    """
    now = now or SYSTEM_CLOCK.now()
    manifest: dict[str, Any] = json.loads(_shape(environment, settings))
    _fill(manifest, job, environment, settings, algorithm_deadline(job, environment, now))
    return manifest


def _env_dict(item: Env | SecretEnv) -> dict[str, Any]:
    """One env var as Argo's JSON, written directly (hera's model round trip costs more)."""
    if isinstance(item, SecretEnv):
        ref: dict[str, Any] = {"key": item.secret_key, "name": item.secret_name}
        if item.optional is not None:
            ref["optional"] = item.optional
        return {"name": item.name, "valueFrom": {"secretKeyRef": ref}}
    return {"name": item.name, "value": item.value}


def _env_dicts(env_list: env.EnvList) -> list[dict[str, Any]]:
    return [_env_dict(item) for item in env_list]


def _fill(
    manifest: dict[str, Any],
    job: Job,
    environment: Environment,
    settings: Settings,
    algo_deadline: int,
) -> None:
    """Write `job`'s own values into a copy of its environment's workflow shape."""
    meta = _metadata(job, environment)
    metadata = manifest["metadata"]
    metadata["name"] = names.workflow_name(job.job_id)
    metadata["labels"] = meta["labels"]
    metadata["annotations"] = meta["annotations"]
    spec = manifest["spec"]
    spec["activeDeadlineSeconds"] = _workflow_deadline(environment, settings, algo_deadline)
    spec["podMetadata"]["labels"][names.JOB_ID_LABEL] = job.job_id
    templates = {template["name"]: template for template in spec["templates"]}
    for name, template in templates.items():
        if name != "main":
            template["metadata"]["labels"][names.JOB_ID_LABEL] = job.job_id
    templates["configure"]["container"]["env"] = _env_dicts(env.configure_env(job, environment))
    publish_env = env.publish_env(job, environment, settings)
    templates["publish"]["container"]["env"] = _env_dicts(publish_env)
    if "filter" in templates:
        templates["filter"]["container"]["env"] = _env_dicts(env.filter_env(job))
    algorithm = templates["algorithm"]
    algorithm["activeDeadlineSeconds"] = algo_deadline
    algorithm["container"]["image"] = env.inert_text(algorithm_image(job.spec.algorithm.container))
    entrypoint = encode_entrypoint(resolve_entrypoint(job.spec.algorithm.container.entrypoint))
    algorithm["container"]["env"] = _env_dicts(env.algorithm_env(job, entrypoint))


def _workflow_deadline(environment: Environment, settings: Settings, algo_deadline: int) -> int:
    filtering = environment.filter.timeout if environment.filter else 0
    return workflow_deadline(
        settings.configure_timeout, algo_deadline, settings.publish_timeout, filtering
    )


# The job whose workflow gives an environment its shape; every value it sets is overwritten.
_SHAPE_JOB = Job(
    job_id=JobId("0" * 32),
    owner=Address("0x0"),
    agreement_id="shape",
    environment="shape",
    spec=JobSpec(
        inputs=(),
        algorithm=AlgorithmSpec(did=None, container=ContainerSpec(entrypoint="true", image="x")),
    ),
    status=JobStatus.QUEUED,
    date_created=dt.datetime.fromtimestamp(0, dt.UTC),
)


@functools.lru_cache(maxsize=64)
def _shape(environment: Environment, settings: Settings) -> str:
    """The shape as JSON text: parsing it is a cheaper private copy than a deep copy."""
    shape = build_workflow_with_hera(
        _SHAPE_JOB, environment, settings, now=dt.datetime.fromtimestamp(0, dt.UTC)
    )
    return json.dumps(shape)


def build_workflow_with_hera(
    job: Job,
    environment: Environment,
    settings: Settings,
    *,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The full hera build of `build_workflow` (the reference the fast path is tested against)."""
    now = now or SYSTEM_CLOCK.now()
    algo_deadline = algorithm_deadline(job, environment, now)
    meta = _metadata(job, environment)
    workflow = Workflow(
        api_version="argoproj.io/v1alpha1",
        kind="Workflow",
        name=names.workflow_name(job.job_id),
        namespace=environment.namespace,
        labels=meta["labels"],
        annotations=meta["annotations"],
        entrypoint="main",
        on_exit="publish",
        templates=_templates(job, environment, settings, algo_deadline),
        volumes=_volumes(environment, settings),
        volume_claim_gc=VolumeClaimGC(strategy=retention.gc_strategy(settings)),
        pod_gc=PodGC(strategy=retention.gc_strategy(settings)),
        active_deadline_seconds=_workflow_deadline(environment, settings, algo_deadline),
        **_pod_defaults(job, environment, settings),
    )
    manifest: dict[str, Any] = workflow.to_dict()
    return manifest
