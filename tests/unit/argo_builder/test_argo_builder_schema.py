"""Every workflow the builder makes is valid against Argo's published JSON schema."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
import yaml
from argo_builder_support import NOW, TEMPLATES, load_request

from operator_argo.config import IpfsSettings, S3Settings, Settings
from operator_argo.engines.argo.manifest import TEMPLATE_CASES, TEMPLATE_SETTINGS, render_workflow
from tests.kit.data import ARGO_SCHEMA

WORKFLOW = "io.argoproj.workflow.v1alpha1.Workflow"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(ARGO_SCHEMA.read_text(encoding="utf-8"))
    definitions = schema["definitions"]
    # Upstream declares IntOrString as a string; the CRD accepts both (x-kubernetes-int-or-string).
    definitions[INT_OR_STRING] = {"type": ["integer", "string"]}
    root = {"$ref": f"#/definitions/{WORKFLOW}", "definitions": definitions}
    return jsonschema.Draft202012Validator(root)


def _errors(manifest: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in _validator().iter_errors(manifest)
    ]


@pytest.mark.parametrize("case", TEMPLATE_CASES, ids=lambda case: case.output)
def test_committed_templates_are_valid(case: Any) -> None:
    manifest = yaml.safe_load((TEMPLATES / case.output).read_text(encoding="utf-8"))
    assert manifest["kind"] == "Workflow"
    assert _errors(manifest) == []


def _variant_settings() -> dict[str, Settings]:
    base = TEMPLATE_SETTINGS
    return {
        "local": dataclasses.replace(base, storage_backend="local"),
        "local-claim": dataclasses.replace(base, storage_backend="local", results_pvc="results"),
        "s3": dataclasses.replace(
            base, storage_backend="s3", s3=S3Settings(bucket="b", secret_name="s3c")
        ),
        "s3-no-secret": dataclasses.replace(base, storage_backend="s3", s3=S3Settings(bucket="b")),
        "ipfs": dataclasses.replace(
            base, storage_backend="ipfs", ipfs=IpfsSettings(url="http://ipfs:5001", secret_name="h")
        ),
        "storage-class": dataclasses.replace(base, storage_class="fast"),
    }


VARIANT_SETTINGS = _variant_settings()


VARIANTS = [
    # (settings, environment, request, keep validUntil)
    ("local", "ocean-compute", "published-algo.json", True),
    ("local-claim", "ocean-compute", "raw-algo.json", True),
    ("s3", "ocean-compute", "published-algo.json", False),
    ("s3-no-secret", "ocean-compute", "raw-algo.json", False),
    ("ipfs", "ocean-compute", "published-algo.json", True),
    ("ipfs", "ocean-compute-gpu", "raw-algo.json", False),
    ("storage-class", "ocean-compute-gpu", "published-algo.json", True),
    ("local", "ocean-compute-gpu", "published-algo.json", False),
]


@pytest.mark.parametrize(("settings_name", "environment", "request_name", "valid_until"), VARIANTS)
def test_built_variants_are_valid(
    settings_name: str, environment: str, request_name: str, valid_until: bool
) -> None:
    body = load_request(request_name)
    body["environment"] = environment
    if not valid_until:
        del body["validUntil"]
    manifest = render_workflow(body, VARIANT_SETTINGS[settings_name], now=NOW)
    assert _errors(manifest) == []


def test_validator_rejects_a_broken_workflow(build: Callable[..., dict[str, Any]]) -> None:
    """The schema check is not vacuous: typical mistakes are caught."""
    good = build()
    assert _errors(good) == []
    for path, value in [
        (("spec", "activeDeadlineSeconds"), "soon"),
        (("spec", "templates"), {"name": "main"}),
        (("apiVersion",), "argoproj.io/v1"),
        (("spec", "automountServiceAccountToken"), "no"),
    ]:
        bad = copy.deepcopy(good)
        target = bad
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        assert _errors(bad), path


def test_template_deadline_may_be_int_or_string(build: Callable[..., dict[str, Any]]) -> None:
    manifest = build()
    manifest["spec"]["templates"][1]["activeDeadlineSeconds"] = "60"
    assert _errors(manifest) == []


def test_validates_with_the_default_clock() -> None:
    body = load_request("published-algo.json")
    body["validUntil"] = int(dt.datetime.now(dt.UTC).timestamp()) + 90
    manifest = render_workflow(body, TEMPLATE_SETTINGS)
    assert _errors(manifest) == []
    deadlines = [t.get("activeDeadlineSeconds") for t in manifest["spec"]["templates"]]
    assert 1 <= deadlines[2] <= 90
