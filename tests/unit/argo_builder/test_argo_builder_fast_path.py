"""The per-environment shape plus `_fill` builds exactly what a full hera build does."""

from __future__ import annotations

import dataclasses
import itertools
import json
import uuid
from pathlib import Path

import pytest
from argo_builder_support import NOW, load_request

from operator_argo.config import IpfsSettings, S3Settings, Settings
from operator_argo.domain.environment import Environment, FilterStep, KeySource, PodPlacement
from operator_argo.domain.job import Job
from operator_argo.engines.argo.builder import build_workflow, build_workflow_with_hera
from operator_argo.engines.argo.builder_request import job_from_request

ENVIRONMENTS = [
    Environment(
        id="cpu", namespace="ns-a", cpu_number=2, ram_gb=4, disk_gb=9, max_job_duration=600
    ),
    Environment(
        id="gpu",
        namespace="ns-b",
        gpu_number=2,
        gpu_type="a100",
        allow_network=True,
        key=KeySource(secret_name="k", secret_key="pk"),
    ),
    Environment(id="zero", namespace="ns-c", cpu_number=0, ram_gb=0, max_job_duration=5),
    Environment(
        id="filtered",
        namespace="ns-d",
        filter=FilterStep(image="f:1", command=("sh", "-c", "rm -f $OUTPUTS/x"), timeout=9),
        gpu_number=1,
        placement=PodPlacement(
            node_selector={"pool": "gpu"},
            tolerations=({"key": "dedicated", "operator": "Exists"},),
            affinity={"nodeAffinity": {}},
            priority_class_name="high",
            runtime_class_name="kata",
            image_pull_secrets=("pull",),
            image_pull_policy="Never",
        ),
    ),
]
SETTINGS = [
    Settings(step_image="op:1"),
    Settings(
        storage_backend="s3",
        s3=S3Settings(endpoint="127.0.0.1:9000", bucket="b", secret_name="s3-creds"),
        storage_class="fast",
    ),
    Settings(
        storage_backend="ipfs", ipfs=IpfsSettings(url="http://127.0.0.1:5001", secret_name="ipfs")
    ),
    Settings(
        results_pvc="results-claim", results_dir=Path("/results"), executor_service_account="exec"
    ),
]


def jobs() -> list[Job]:
    published = load_request("published-algo.json")
    raw = load_request("raw-algo.json")
    variants = [
        published,
        raw,
        published | {"validUntil": None, "owner": "0xABCDEF"},
        raw | {"validUntil": int(NOW.timestamp()) + 30, "agreementId": "{{workflow.name}}"},
    ]
    weird = load_request("raw-algo.json")
    algorithm = weird["workflow"]["stages"][0]["algorithm"]
    algorithm["container"] = {
        "entrypoint": "sh -c 'echo {{x}}; exit 7' $ALGO",
        "image": "img",
        "tag": "t",
    }
    weird["workflow"]["stages"][0]["input"] = [
        {"index": i, "id": f"did:op:{i:064x}", "url": [f"http://127.0.0.1/{i}"]} for i in range(5)
    ]
    variants.append(weird)
    return [job_from_request(body, job_id=uuid.uuid4().hex, now=NOW) for body in variants]


@pytest.mark.parametrize(
    ("environment", "settings"),
    list(itertools.product(ENVIRONMENTS, SETTINGS)),
    ids=lambda v: getattr(v, "id", ""),
)
def test_fast_build_equals_the_full_hera_build(
    environment: Environment, settings: Settings
) -> None:
    for job in jobs():
        assert build_workflow(job, environment, settings, now=NOW) == build_workflow_with_hera(
            job, environment, settings, now=NOW
        )


def test_the_manifest_is_plain_json_data() -> None:
    """The Kubernetes client sends it without sanitising it (KubeClient.submit_workflow)."""
    for environment, settings in itertools.product(ENVIRONMENTS, SETTINGS):
        for job in jobs():
            built = build_workflow(job, environment, settings, now=NOW)
            assert json.loads(json.dumps(built)) == built
            stack = [built]
            while stack:
                item = stack.pop()
                if isinstance(item, dict):
                    assert all(isinstance(key, str) for key in item)
                    stack.extend(item.values())
                elif isinstance(item, list):
                    stack.extend(item)
                else:
                    assert item is None or isinstance(item, str | int | float | bool), item


def test_builds_do_not_share_mutable_state() -> None:
    environment, settings = ENVIRONMENTS[0], SETTINGS[0]
    first, second = jobs()[:2]
    built = build_workflow(first, environment, settings, now=NOW)
    built["spec"]["templates"][0]["name"] = "tampered"
    built["metadata"]["labels"]["x"] = "y"
    again = build_workflow(second, environment, settings, now=NOW)
    assert again == build_workflow_with_hera(second, environment, settings, now=NOW)
    changed = dataclasses.replace(environment, disk_gb=environment.disk_gb + 1)
    assert build_workflow(second, changed, settings, now=NOW) == build_workflow_with_hera(
        second, changed, settings, now=NOW
    )
