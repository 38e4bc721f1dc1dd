"""Workflow manifests as YAML: `operator-argo render` and the reference files under templates/.

Regenerate the reference files with `python -m operator_argo.engines.argo.manifest --write
templates/`; `--check templates/` exits 1 when they have drifted from the builder.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from operator_argo.config import S3Settings, Settings
from operator_argo.domain.clock import SYSTEM_CLOCK
from operator_argo.domain.environment import Environment, FilterStep, KeySource, PodPlacement
from operator_argo.domain.errors import NotFound
from operator_argo.domain.messages import ENVIRONMENT_INVALID
from operator_argo.engines.argo.builder import build_workflow
from operator_argo.engines.argo.builder_request import job_from_request
from operator_argo.wire.preflight import check_environment, check_valid_until

REGENERATE = "python -m operator_argo.engines.argo.manifest --write templates/"
RENDER_JOB_ID = "0123456789abcdef0123456789abcdef"
RENDER_NOW = dt.datetime.fromtimestamp(
    1_700_001_800, dt.UTC
)  # 30 min before the examples' validUntil

# Fixed inputs of the reference files, so they change only when the builder does.
_CPU_ENVIRONMENT = Environment(
    id="ocean-compute",
    namespace="ocean-compute",
    cpu_number=2,
    ram_gb=4,
    disk_gb=10,
    max_job_duration=3600,
    key=KeySource(secret_name="ocean-compute-key", secret_key="privateKey"),  # noqa: S106 - names
)
TEMPLATE_SETTINGS = Settings(
    environments=(
        _CPU_ENVIRONMENT,
        Environment(
            id="ocean-compute-gpu",
            namespace="ocean-compute-gpu",
            cpu_number=8,
            ram_gb=32,
            disk_gb=100,
            gpu_number=1,
            max_job_duration=7200,
            key=KeySource(file="/etc/operator-argo/keys/gpu.key"),
            placement=PodPlacement(
                node_selector={"node-pool": "gpu"},
                tolerations=(
                    {
                        "key": "dedicated",
                        "operator": "Equal",
                        "value": "gpu",
                        "effect": "NoSchedule",
                    },
                ),
                affinity={
                    "nodeAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "weight": 50,
                                "preference": {
                                    "matchExpressions": [
                                        {
                                            "key": "gpu-model",
                                            "operator": "In",
                                            "values": ["a100", "h100"],
                                        }
                                    ]
                                },
                            }
                        ]
                    }
                },
                priority_class_name="gpu-jobs",
                runtime_class_name="nvidia",
                image_pull_secrets=("algorithm-images",),
                image_pull_policy="IfNotPresent",
            ),
        ),
        dataclasses.replace(
            _CPU_ENVIRONMENT,
            id="ocean-compute-filtered",
            filter=FilterStep(
                image="ocean-filters/redact:1.0",
                command=("python", "/filter/redact.py", "--outputs", "/data/outputs"),
                timeout=300,
            ),
        ),
    ),
    step_image="operator-argo:0.1.0",
    storage_backend="s3",
    s3=S3Settings(
        endpoint="object-store.storage.svc:9000",
        bucket="compute-results",
        secure=False,
        secret_name="operator-argo-s3",  # noqa: S106 - the Secret's name, not a value
    ),
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TemplateCase:
    """One reference file: which request it renders, optionally in another environment."""

    output: str
    request: str
    environment: str | None = None


TEMPLATE_CASES = (
    TemplateCase(output="workflow-published-algo.yaml", request="published-algo.json"),
    TemplateCase(output="workflow-raw-algo.yaml", request="raw-algo.json"),
    TemplateCase(
        output="workflow-gpu.yaml", request="published-algo.json", environment="ocean-compute-gpu"
    ),
    TemplateCase(
        output="workflow-filtered.yaml",
        request="published-algo.json",
        environment="ocean-compute-filtered",
    ),
)


def to_yaml(manifest: Mapping[str, Any]) -> str:
    """A manifest as block-style YAML, keys in the builder's order, long lines kept whole."""
    return yaml.safe_dump(dict(manifest), sort_keys=False, width=1_000_000, allow_unicode=False)


def render_workflow(
    request_json: Mapping[str, Any],
    settings: Settings,
    *,
    job_id: str = RENDER_JOB_ID,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The workflow the operator would submit for a POST /compute body at `now` (no I/O); a
    body it would refuse (preflight included) is refused here too."""
    now = now or SYSTEM_CLOCK.now()
    body = {key: value for key, value in request_json.items() if key != "_comment"}
    job = job_from_request(body, job_id=job_id, now=now)
    environment = settings.environment(job.environment)
    if environment is None:
        raise NotFound(ENVIRONMENT_INVALID)
    check_environment(job.spec, environment)
    check_valid_until(job.valid_until, now.timestamp())
    return build_workflow(job, environment, settings, now=now)


def render_request(
    request_json: Mapping[str, Any],
    settings: Settings,
    *,
    job_id: str = RENDER_JOB_ID,
    now: dt.datetime | None = None,
) -> str:
    """The workflow for a POST /compute body as YAML (what `operator-argo render` prints)."""
    return to_yaml(render_workflow(request_json, settings, job_id=job_id, now=now))


def _header(case: TemplateCase) -> str:
    return (
        "# Generated by operator-argo from templates/requests/"
        f"{case.request}; do not edit.\n"
        f"# Regenerate: {REGENERATE}\n"
        f"# Job id {RENDER_JOB_ID}, clock {RENDER_NOW.isoformat()}, settings TEMPLATE_SETTINGS"
        " in operator_argo/engines/argo/manifest.py.\n"
    )


def case_request(case: TemplateCase, requests_dir: Path) -> dict[str, Any]:
    """The request body of `case`, with its environment override applied."""
    body: dict[str, Any] = json.loads((requests_dir / case.request).read_text(encoding="utf-8"))
    if case.environment is not None:
        body["environment"] = case.environment
    return body


def render_templates(directory: Path) -> dict[str, str]:
    """File name -> expected text of each reference file; requests come from directory/requests."""
    rendered: dict[str, str] = {}
    for case in TEMPLATE_CASES:
        body = case_request(case, directory / "requests")
        text = render_request(body, TEMPLATE_SETTINGS, now=RENDER_NOW)
        rendered[case.output] = _header(case) + text
    return rendered


def drifted(directory: Path) -> list[str]:
    """Names of reference files that are missing or differ from what the builder makes now."""
    return [
        name
        for name, text in render_templates(directory).items()
        if not (directory / name).is_file()
        or (directory / name).read_text(encoding="utf-8") != text
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Write (`--write DIR`) or verify (`--check DIR`) the reference workflow files."""
    parser = argparse.ArgumentParser(prog="python -m operator_argo.engines.argo.manifest")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", type=Path, metavar="DIR", help="regenerate the files in DIR")
    mode.add_argument("--check", type=Path, metavar="DIR", help="exit 1 if DIR has drifted")
    args = parser.parse_args(argv)
    if args.check is not None:
        stale = drifted(args.check)
        for name in stale:
            print(f"drifted: {args.check / name} (regenerate: {REGENERATE})", file=sys.stderr)
        return 1 if stale else 0
    for name, text in render_templates(args.write).items():
        (args.write / name).write_text(text, encoding="utf-8")
        print(f"wrote {args.write / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
