"""The chart and the workflow builder agree: the workflows built from the settings the chart
renders land where the chart grants RBAC, match its NetworkPolicies and reference only
Secrets (and keys) the chart provides in the job's namespace."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from operator_argo.config import Settings, load_settings
from operator_argo.domain.job import Job
from operator_argo.engines.argo.builder import build_workflow
from tests.kit.factories import job_from_example

from .conftest import Rendered, render, settings_env

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PROVIDERS = '["0x2222222222222222222222222222222222222222"]'


def make_job() -> Job:
    return job_from_example(job_id="b" * 32, now=NOW)


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics for matchLabels and `In` expressions."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def step_pod_labels(workflow: dict[str, Any]) -> dict[str, dict[str, str]]:
    common = workflow["spec"].get("podMetadata", {}).get("labels", {})
    return {
        t["name"]: common | t.get("metadata", {}).get("labels", {})
        for t in workflow["spec"]["templates"]
        if t["name"] in {"configure", "algorithm", "filter", "publish"}
    }


def secret_refs(workflow: dict[str, Any]) -> set[tuple[str, str]]:
    refs = set()
    for template in workflow["spec"]["templates"]:
        for item in template.get("container", {}).get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                refs.add((ref["name"], ref["key"]))
    return refs


def built(rendered: Rendered, tmp_path: Path) -> tuple[Settings, dict[str, dict[str, Any]]]:
    settings = load_settings(settings_env(rendered, tmp_path, ALLOWED_PROVIDERS=PROVIDERS))
    job = make_job()
    workflows = {
        env.id: build_workflow(job, env, settings, now=NOW) for env in settings.environments
    }
    return settings, workflows


@pytest.fixture
def chart_made_secrets(helm: str) -> Rendered:
    return render(
        helm,
        "--set", "postgresql.host=db",
        "--set", "environments[0].id=cpu,environments[0].namespace=jobs",
        "--set", "environments[0].key.privateKey=" + "cd" * 32,
        "--set", "storage.backend=s3,storage.s3.bucket=b",
        "--set", "storage.s3.accessKey=ak,storage.s3.secretKey=sk",
    )  # fmt: skip


def test_workflows_run_where_the_chart_grants_rbac(
    production_render: Rendered, tmp_path: Path
) -> None:
    _, workflows = built(production_render, tmp_path)
    role_namespaces = {
        r["metadata"]["namespace"]
        for r in production_render.of_kind("Role")
        if r["metadata"]["name"] == "c2d-operator-argo"
    }
    accounts = {
        (a["metadata"]["namespace"], a["metadata"]["name"])
        for a in production_render.of_kind("ServiceAccount")
    }
    for workflow in workflows.values():
        namespace = workflow["metadata"]["namespace"]
        assert namespace in role_namespaces
        executor = workflow["spec"]["executor"]["serviceAccountName"]
        assert (namespace, executor) in accounts


def test_network_policies_select_the_built_pods(
    production_render: Rendered, tmp_path: Path
) -> None:
    settings, workflows = built(production_render, tmp_path)
    found = production_render.of_kind("NetworkPolicy")
    for env_id, workflow in workflows.items():
        namespace = workflow["metadata"]["namespace"]
        local = [p for p in found if p["metadata"]["namespace"] == namespace]
        for step, labels in step_pod_labels(workflow).items():
            matching = [
                p["metadata"]["name"] for p in local if selects(p["spec"]["podSelector"], labels)
            ]
            expected = {"algorithm": "-algorithm", "filter": "-filter"}.get(step, "-steps")
            assert len(matching) == 1, (env_id, step, matching)
            assert matching[0].endswith(f"-{env_id}{expected}")
    assert settings.environment("gpu") is not None
    assert "filter" in step_pod_labels(workflows["cpu"])  # the production values filter cpu jobs


def test_every_secret_a_job_pod_needs_exists_in_its_namespace(
    chart_made_secrets: Rendered, tmp_path: Path
) -> None:
    _, workflows = built(chart_made_secrets, tmp_path)
    provided = {
        (s["metadata"]["namespace"], s["metadata"]["name"], key)
        for s in chart_made_secrets.of_kind("Secret")
        for key in s.get("data", {})
    }
    workflow = workflows["cpu"]
    refs = secret_refs(workflow)
    assert len(refs) >= 3  # the environment key and both storage credentials
    for name, key in refs:
        assert ("jobs", name, key) in provided
