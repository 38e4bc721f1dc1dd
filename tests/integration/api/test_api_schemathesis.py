"""schemathesis over /spec against the real server on 127.0.0.1 (the embedded PostgreSQL
unless POSTGRES_HOST is set): every check, zero failures, in both signature modes.

A failure means the OpenAPI document and the server disagree: a schema-valid request refused
(say a 400 for an empty string the document allows), a schema-invalid one accepted, a 5xx, an
undocumented status or a response that does not match its schema. The run is bounded by a
fixed number of examples per operation and a fixed seed, so it is repeatable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from operator_argo.api.listener import listening
from operator_argo.app import Runtime, build_app, open_runtime
from operator_argo.config import Settings
from operator_argo.domain.environment import Environment
from operator_argo.domain.job import Address, JobUpdate, ResultFile
from operator_argo.domain.status import JobStatus
from tests.kit.factories import new_job

ROOT = Path(__file__).resolve().parents[3]
OWNER = "0x" + "5c" * 20
ENVIRONMENTS = (
    Environment(id="ocean-compute", namespace="ocean-compute"),
    Environment(id="gpu", namespace="gpu", allowed_chain_ids=(137, 8996), refuse_local_urls=True),
)


@contextlib.asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[Runtime, str]]:
    """The operator's API as `serve` runs it (no background loops: jobs stay queued)."""
    async with (
        open_runtime(settings) as runtime,
        listening(build_app(runtime), settings, port=0) as (host, port),
    ):
        yield runtime, f"http://{host}:{port}"


async def finished_job_with_a_result(runtime: Runtime) -> str:
    """A finished job with one published file, so that getResult can answer 200, 206 and 416
    too, and computeLogs 200."""
    job = await runtime.store.insert_job(new_job("ocean-compute", owner=Address(OWNER)))
    path = runtime.settings.results_dir / job.job_id / "result.txt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"0123456789" * 10)
    result = ResultFile(
        filename="result.txt", filesize=100, type="output", key=f"{job.job_id}/result.txt"
    )
    update = JobUpdate(status=JobStatus.FINISHED, finished=True, results=(result,))
    assert await runtime.store.apply_update(job.job_id, update) is not None
    return job.job_id


def config_file(directory: Path, job_id: str) -> Path:
    path = directory / "schemathesis.toml"
    path.write_text(
        "[[operations]]\n"
        'include-name = "GET /api/v1/operator/getResult"\n'
        f'parameters = {{ "query.jobId" = "{job_id}", "query.owner" = "{OWNER}" }}\n'
        "[[operations]]\n"
        'include-name = "GET /api/v1/operator/computeLogs"\n'
        f'parameters = {{ "query.jobId" = "{job_id}", "query.owner" = "{OWNER}" }}\n'
    )
    return path


async def schemathesis(base: str, examples: int, config: Path) -> tuple[int, str]:
    env = os.environ | {
        "SCHEMATHESIS_HOOKS": "tests.integration.api.schemathesis_hooks",
        "PYTHONPATH": str(ROOT),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color",
        "run", f"{base}/spec",
        "--max-examples", str(examples),
        "--seed", "20261",
        "--no-shrink",
        "--request-timeout", "10",
        # Replaced by the hooks' `valid_data_is_accepted` (the contract's agreementId rule).
        "--exclude-checks", "positive_data_acceptance",
        cwd=config.parent,  # hypothesis keeps its example database there
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=300)
    assert proc.returncode is not None
    return proc.returncode, output.decode()


@pytest.mark.slow
@pytest.mark.parametrize(("signatures", "examples"), [(False, 50), (True, 20)])
async def test_schemathesis_finds_no_disagreement_between_the_document_and_the_server(
    settings_factory: Callable[..., Settings], tmp_path: Path, signatures: bool, examples: int
) -> None:
    settings = settings_factory(
        environments=ENVIRONMENTS,
        signature_required=signatures,
        allowed_providers=frozenset({"0x" + "7a" * 20}) if signatures else frozenset(),
    )
    async with served(settings) as (runtime, base):
        config = config_file(tmp_path, await finished_job_with_a_result(runtime))
        code, output = await schemathesis(base, examples, config)
    summary = output[output.rfind("SUMMARY") :]
    assert code == 0, output[-6000:]
    assert "Operations:" in output and "10 selected / 10 total" in output
    assert " passed" in summary and "failure" not in summary, summary
    print(output[output.find("WARNINGS") :])
