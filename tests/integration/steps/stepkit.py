"""Helpers for the step tests: job folders, a step subprocess runner and spec builders."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from operator_argo.domain.job import (
    InputSpec,
    JobSpec,
    RemoteSource,
    spec_to_dict,
)
from tests.fakes.ocean import ENV_KEY
from tests.kit import factories

JOB_ID = "0123456789abcdef0123456789abcdef"
_OWN_VARS = ("OPERATOR_", "VOLUME", "IPFS_URL", "X_API_KEY", "CLIENT_ID", "X-API-KEY", "CLIENT-ID")


@dataclasses.dataclass(frozen=True, kw_only=True)
class StepRun:
    """What a step subprocess left behind."""

    code: int
    result: dict[str, Any] | None
    stderr: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobDirs:
    volume: Path
    admin: Path
    result_file: Path

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "VOLUME": str(self.volume),
            "OPERATOR_ADMIN_DIR": str(self.admin),
            "OPERATOR_JOB_ID": JOB_ID,
            "OPERATOR_RESULT_FILE": str(self.result_file),
            **extra,
        }


def job_dirs_in(tmp_path: Path) -> JobDirs:
    return JobDirs(
        volume=tmp_path / "data", admin=tmp_path / "admin", result_file=tmp_path / "result.json"
    )


async def run_step(step: str, env: dict[str, str], timeout: float = 60) -> StepRun:
    """Run `python -m operator_argo.steps.<step>` with only `env` (plus PATH/HOME) as its setup."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_VARS)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"operator_argo.steps.{step}",
        env={**base, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), timeout)
    result_file = Path(env["OPERATOR_RESULT_FILE"])
    result = json.loads(result_file.read_text()) if result_file.exists() else None
    assert proc.returncode is not None
    return StepRun(code=proc.returncode, result=result, stderr=stderr.decode())


def make_spec(
    inputs: list[InputSpec],
    *,
    rawcode: str = "print('hello')\n",
    urls: tuple[str, ...] = (),
    remote: RemoteSource | None = None,
    algo_did: str | None = None,
    custom_data: Any = None,
    metadata_uri: str | None = None,
) -> JobSpec:
    """A step's spec: these inputs, and an algorithm of raw code, `urls` or a `remote`."""
    return factories.make_spec(
        inputs=inputs,
        rawcode=rawcode,
        metadata_uri=metadata_uri,
        did=algo_did,
        algorithm_urls=urls,
        remote=remote,
        custom_data=custom_data,
    )


def configure_env(dirs: JobDirs, spec: JobSpec, **extra: str) -> dict[str, str]:
    settings = {
        "OPERATOR_JOB_SPEC": json.dumps(spec_to_dict(spec)),
        "OPERATOR_ENV_KEY": ENV_KEY,
        "OPERATOR_HTTP_TIMEOUT": "5",
    }
    return dirs.env(**{**settings, **extra})
