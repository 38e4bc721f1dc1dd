"""Request bodies to jobs, `render_request`, and the committed reference files (drift check)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from argo_builder_support import NOW, TEMPLATES, load_request

from operator_argo.domain.errors import InvalidRequest, NotFound
from operator_argo.domain.job import RemoteSource
from operator_argo.domain.names import workflow_name
from operator_argo.engines.argo.builder_request import job_from_request
from operator_argo.engines.argo.manifest import (
    REGENERATE,
    RENDER_JOB_ID,
    TEMPLATE_CASES,
    TEMPLATE_SETTINGS,
    drifted,
    main,
    render_request,
    render_templates,
    render_workflow,
)
from tests.kit.data import OCEAN_EXAMPLES


def test_published_algorithm_request_becomes_a_job() -> None:
    job = job_from_request(load_request("published-algo.json"), job_id="f" * 32, now=NOW)
    assert job.job_id == "f" * 32
    assert job.owner == "0xC41808BBef371AD5CFc76466dDF9dEe228d2BdAA"
    assert job.environment == "ocean-compute"
    assert job.valid_until == 1_700_003_600
    assert job.chain_id == 8996
    assert job.date_created == NOW
    (item,) = job.spec.inputs
    assert item.did.startswith("did:op:3d13")
    assert item.remote is not None
    assert item.remote.user_data == {"threshold": 0.5}
    algo = job.spec.algorithm
    assert algo.did is not None
    assert algo.did.startswith("did:op:e105")
    assert algo.custom_data == {"iterations": 10}
    assert algo.remote == RemoteSource(
        tx_id="0x7b4d9f2c1e8a3b6d5f0c9e2a7b4d1f8c3e6a9b2d5f8c1e4a7b0d3f6c9e2a5b8d",
        service_id="db164c1b981e4d2974e90e61bda121512e6909c1035c908d68933ae4cfaba6b0",
        user_data=None,
        service_endpoint="http://172.15.0.4:8030",
    )
    assert algo.container.entrypoint == "python $ALGO"
    assert job.spec.metadata_uri == "http://172.15.0.5:5000"


def test_raw_algorithm_request() -> None:
    job = job_from_request(load_request("raw-algo.json"), job_id="f" * 32, now=NOW)
    assert job.spec.algorithm.did == ""
    assert job.algo_did == ""
    assert "listdir" in job.spec.algorithm.rawcode
    body = load_request("raw-algo.json")
    del body["workflow"]["stages"][0]["algorithm"]["id"]
    assert job_from_request(body, job_id="f" * 32, now=NOW).algo_did == "raw"


def test_bad_requests_are_refused() -> None:
    body = load_request("raw-algo.json")
    del body["owner"]
    with pytest.raises(InvalidRequest, match='"owner" is required'):
        job_from_request(body, job_id="f" * 32, now=NOW)
    body = load_request("raw-algo.json")
    body["workflow"]["stages"].append(body["workflow"]["stages"][0])
    with pytest.raises(InvalidRequest, match="Multiple stages"):
        job_from_request(body, job_id="f" * 32, now=NOW)


def test_render_request_is_yaml_of_the_workflow() -> None:
    body = load_request("published-algo.json")
    body["_comment"] = "ignored"
    text = render_request(body, TEMPLATE_SETTINGS, now=NOW)
    assert yaml.safe_load(text) == render_workflow(body, TEMPLATE_SETTINGS, now=NOW)
    assert yaml.safe_load(text)["metadata"]["name"] == workflow_name(RENDER_JOB_ID)
    other = render_request(body, TEMPLATE_SETTINGS, job_id="b" * 32, now=NOW)
    assert yaml.safe_load(other)["metadata"]["name"] == workflow_name("b" * 32)


def test_render_request_needs_a_known_environment() -> None:
    body = load_request("published-algo.json")
    body["environment"] = "nowhere"
    with pytest.raises(NotFound, match="Environment invalid"):
        render_request(body, TEMPLATE_SETTINGS, now=NOW)


def test_committed_templates_have_not_drifted() -> None:
    """Fails when the builder changed but templates/ was not regenerated (never rewrites)."""
    assert drifted(TEMPLATES) == [], f"regenerate with: {REGENERATE}"
    assert sorted(render_templates(TEMPLATES)) == sorted(case.output for case in TEMPLATE_CASES)


def test_templates_say_they_are_generated_and_how() -> None:
    for case in TEMPLATE_CASES:
        lines = (TEMPLATES / case.output).read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("# Generated")
        assert any(REGENERATE in line for line in lines[:3])
    gpu = yaml.safe_load((TEMPLATES / "workflow-gpu.yaml").read_text(encoding="utf-8"))
    algorithm = next(t for t in gpu["spec"]["templates"] if t["name"] == "algorithm")
    assert algorithm["container"]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_template_requests_are_the_contract_examples() -> None:
    for name in ("published-algo", "raw-algo"):
        example = OCEAN_EXAMPLES / f"POST-compute.request.provider-v2.1.6.{name}.json"
        expected = json.loads(example.read_text(encoding="utf-8"))
        expected.pop("_comment", None)
        assert load_request(f"{name}.json") == expected


def test_check_and_write_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    assert main(["--check", str(copy)]) == 0
    stale = copy / TEMPLATE_CASES[0].output
    stale.write_text(stale.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    (copy / TEMPLATE_CASES[1].output).unlink()
    assert main(["--check", str(copy)]) == 1
    assert "drifted" in capsys.readouterr().err
    assert main(["--write", str(copy)]) == 0
    assert main(["--check", str(copy)]) == 0
    for case in TEMPLATE_CASES:
        assert (copy / case.output).read_bytes() == (TEMPLATES / case.output).read_bytes()
