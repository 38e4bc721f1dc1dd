"""The builder's rules: names, labels, steps, volumes, deadlines, resources and hardening."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest
from argo_builder_support import JOB_ID, NOW, env_of, steps_of, walk

from operator_argo.config import Settings
from operator_argo.domain.deadlines import DEADLINE_MARGIN
from operator_argo.domain.environment import Environment, KeySource
from operator_argo.domain.job import Job, spec_from_dict, spec_to_dict
from operator_argo.domain.names import workflow_name
from operator_argo.engines.argo.builder import build_workflow

Build = Callable[..., dict[str, Any]]
STEPS = ("configure", "algorithm", "publish")


def test_identity_and_placement(build: Build) -> None:
    wf = build()
    assert wf["apiVersion"] == "argoproj.io/v1alpha1"
    assert wf["kind"] == "Workflow"
    assert wf["metadata"]["name"] == workflow_name(JOB_ID)
    assert wf["metadata"]["namespace"] == "compute-jobs"


def test_labels_and_annotations(build: Build, job: Job) -> None:
    meta = build()["metadata"]
    assert meta["labels"] == {
        "app.kubernetes.io/managed-by": "operator-argo",
        "operator-argo/job-id": JOB_ID,
        "operator-argo/environment": "ocean-compute",
        "operator-argo/owner": "0xc41808bbef371ad5cfc76466ddf9dee228d2bdaa",
    }
    notes = meta["annotations"]
    assert notes["workflows.argoproj.io/title"] == f"C2D job {JOB_ID}"
    description = notes["workflows.argoproj.io/description"]
    for part in (job.algo_did, job.input_dids[0], job.owner, "ocean-compute", "algo_dockers@"):
        assert part in description
    assert notes["operator-argo/agreement-id"] == job.agreement_id


def test_environment_label_is_made_valid(build: Build, environment: Environment) -> None:
    odd = dataclasses.replace(environment, id="GPU pool #1/" + "x" * 80)
    value = build(environment=odd)["metadata"]["labels"]["operator-argo/environment"]
    assert len(value) <= 63
    assert value.startswith("GPU-pool-1-x")


def test_steps_run_configure_then_algorithm_and_publish_on_exit(build: Build) -> None:
    spec = build()["spec"]
    assert spec["entrypoint"] == "main"
    assert spec["onExit"] == "publish"
    main = steps_of(build())["main"]
    assert [[step["name"] for step in group] for group in main["steps"]] == [
        ["configure"],
        ["algorithm"],
    ]
    assert [group[0]["template"] for group in main["steps"]] == ["configure", "algorithm"]
    assert set(steps_of(build())) == {"main", *STEPS}


def test_job_volume(build: Build, settings: Settings) -> None:
    spec = build()["spec"]
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "job"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "7Gi"
    assert "storageClassName" not in claim["spec"]
    assert spec["volumeClaimGC"] == {"strategy": "OnWorkflowCompletion"}
    classed = build(settings=dataclasses.replace(settings, storage_class="fast-ssd"))
    assert classed["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast-ssd"


def test_mounts_data_everywhere_admin_only_for_operator_steps(build: Build) -> None:
    steps = steps_of(build())
    for name in STEPS:
        mounts = {m["mountPath"]: m for m in steps[name]["container"]["volumeMounts"]}
        assert mounts["/data"] == {"mountPath": "/data", "name": "job", "subPath": "data"}
        if name == "algorithm":
            assert "/admin" not in mounts
        else:
            assert mounts["/admin"] == {"mountPath": "/admin", "name": "job", "subPath": "admin"}


@pytest.mark.parametrize(
    ("valid_until", "expected"),
    [
        (None, 3600),  # no validUntil: maxJobDuration
        (1_700_000_000 + 600, 600),  # validUntil earlier: it wins
        (1_700_000_000 + 99_999, 3600),  # validUntil later: maxJobDuration
        (1_700_000_000 - 50, 1),  # already past: the shortest deadline there is
    ],
)
def test_algorithm_deadline(
    build: Build, make_job: Callable[..., Job], valid_until: int | None, expected: int
) -> None:
    wf = build(job=make_job(validUntil=valid_until))
    steps = steps_of(wf)
    assert steps["algorithm"]["activeDeadlineSeconds"] == expected
    assert steps["configure"]["activeDeadlineSeconds"] == 111
    assert steps["publish"]["activeDeadlineSeconds"] == 222
    assert wf["spec"]["activeDeadlineSeconds"] == 111 + expected + 222 + DEADLINE_MARGIN


def test_deadline_counts_from_the_given_clock(build: Build, make_job: Callable[..., Job]) -> None:
    job = make_job(validUntil=1_700_000_000 + 1000)
    later = NOW.replace(second=NOW.second + 10)
    assert steps_of(build(job=job, now=later))["algorithm"]["activeDeadlineSeconds"] == 990


def test_no_retry_strategy_anywhere(build: Build) -> None:
    keys = {key for key, _ in walk(build())}
    assert "retryStrategy" not in keys


def test_algorithm_resources(build: Build, environment: Environment) -> None:
    resources = steps_of(build())["algorithm"]["container"]["resources"]
    expected = {"cpu": "2", "memory": "3Gi"}
    assert resources == {"requests": expected, "limits": expected}
    assert "tolerations" not in build()["spec"]
    gpu = build(environment=dataclasses.replace(environment, gpu_number=2))
    algorithm = steps_of(gpu)["algorithm"]
    assert algorithm["container"]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert algorithm["container"]["resources"]["requests"]["nvidia.com/gpu"] == "2"
    # Every pod of a GPU job tolerates the GPU taint: configure must be able to run (and bind
    # the job volume) where the algorithm will.
    assert gpu["spec"]["tolerations"] == [
        {"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}
    ]
    assert not any("tolerations" in template for template in gpu["spec"]["templates"])
    for name in ("configure", "publish"):
        assert "resources" not in steps_of(gpu)[name]["container"]


def test_every_container_is_hardened(build: Build) -> None:
    wf = build()
    assert wf["spec"]["automountServiceAccountToken"] is False
    assert wf["spec"]["executor"]["serviceAccountName"]
    for name in STEPS:
        context = steps_of(wf)[name]["container"]["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        if name == "algorithm":
            assert "runAsNonRoot" not in context
            assert "runAsUser" not in context
        else:
            assert context["runAsNonRoot"] is True
            assert context["runAsUser"] == 10001


def test_operator_steps_run_the_step_program_and_report(build: Build) -> None:
    steps = steps_of(build())
    for name in ("configure", "publish"):
        container = steps[name]["container"]
        assert container["image"] == "registry.local/op:9"
        assert container["command"] == ["operator-argo", "step", name]
        assert steps[name]["outputs"]["parameters"] == [
            {"name": "result", "valueFrom": {"path": "/tmp/operator-argo-result.json"}}
        ]
        env = env_of(steps[name])
        assert env["OPERATOR_RESULT_FILE"]["value"] == "/tmp/operator-argo-result.json"
        assert env["OPERATOR_JOB_ID"]["value"] == JOB_ID
        assert env["VOLUME"]["value"] == "/data"
        assert env["OPERATOR_ADMIN_DIR"]["value"] == "/admin"


def test_configure_env(build: Build, job: Job) -> None:
    env = env_of(steps_of(build())["configure"])
    text = env["OPERATOR_JOB_SPEC"]["value"]
    assert spec_from_dict(json.loads(text)) == job.spec  # what the step reads back
    assert json.loads(text) == json.loads(json.dumps(spec_to_dict(job.spec)))
    assert env["OPERATOR_MAX_INPUT_BYTES"]["value"] == str(7 * 1024**3)
    assert env["OPERATOR_ENV_KEY"] == {
        "name": "OPERATOR_ENV_KEY",
        "valueFrom": {"secretKeyRef": {"name": "env-key", "key": "pk"}},
    }


def test_env_key_secret_has_a_default_name(build: Build, environment: Environment) -> None:
    from_file = dataclasses.replace(environment, key=KeySource(file="/keys/k"))
    env = env_of(steps_of(build(environment=from_file))["configure"])
    ref = env["OPERATOR_ENV_KEY"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "operator-argo-env-ocean-compute", "key": "key", "optional": True}


def test_algorithm_env(build: Build, job: Job) -> None:
    env = env_of(steps_of(build())["algorithm"])
    values = {name: item["value"] for name, item in env.items()}
    assert json.loads(values["DIDS"]) == [
        "3d13a841219361d53899283283ea1a85c775a820384f171d5bcc427c3976196d"
    ]
    assert values["TRANSFORMATION_DID"] == (
        "e1054465693b020a73258bdc782d70e757dd7be3a5aa30ea45ff8bcab8520e85"
    )
    assert values["VOLUME"] == "/data"
    assert values["LOGS"] == "/data/logs"
    assert values["INPUTS"] == "/data/inputs"
    assert values["OUTPUTS"] == "/data/outputs"
    assert all("valueFrom" not in item for item in env.values())  # nothing from Secrets


def test_build_is_repeatable(build: Build) -> None:
    assert build() == build()
    assert json.dumps(build(), sort_keys=True) == json.dumps(build(), sort_keys=True)


def test_default_clock_is_now(job: Job, environment: Environment, settings: Settings) -> None:
    far = dataclasses.replace(job, valid_until=4_000_000_000)
    wf = build_workflow(far, environment, settings)
    assert steps_of(wf)["algorithm"]["activeDeadlineSeconds"] == 3600
    soon = dataclasses.replace(job, valid_until=1_700_000_000)  # long past by now
    assert (
        steps_of(build_workflow(soon, environment, settings))["algorithm"]["activeDeadlineSeconds"]
        == 1
    )


def test_pod_labels(build: Build, environment: Environment) -> None:
    wf = build()
    assert wf["spec"]["podMetadata"]["labels"]["operator-argo/job-id"] == JOB_ID
    for name in STEPS:
        assert steps_of(wf)[name]["metadata"]["labels"]["operator-argo/step"] == name
    assert steps_of(wf)["algorithm"]["metadata"]["labels"]["operator-argo/network"] == "deny"
    open_env = dataclasses.replace(environment, allow_network=True)
    labels = steps_of(build(environment=open_env))["algorithm"]["metadata"]["labels"]
    assert labels["operator-argo/network"] == "allow"
