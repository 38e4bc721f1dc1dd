"""A stand-in operator process for the restart tests: submits one job, then runs until killed.

Usage: python -m tests.integration.local.operator_stub <data_dir> <job.json> <sandbox 0|1>
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import sys
from pathlib import Path

from operator_argo.config import Settings
from operator_argo.domain.job import spec_from_dict
from tests.integration.local.localkit import make_environment, make_job


async def main(data_dir: Path, job_file: Path, sandbox: bool) -> None:
    described = json.loads(job_file.read_text())
    spec = spec_from_dict(described["spec"])
    job = dataclasses.replace(make_job(""), job_id=described["job_id"], spec=spec)
    settings = Settings(data_dir=data_dir, results_dir=data_dir.parent / "results")
    from operator_argo.engines.argo.builder import build_workflow  # noqa: PLC0415
    from operator_argo.engines.local.engine import LocalEngine  # noqa: PLC0415

    engine = LocalEngine(
        settings,
        build=build_workflow,
        key_for=lambda env: None,
        bwrap=shutil.which("bwrap") if sandbox else None,
    )
    await engine.submit(job, make_environment())

    async def discard(_: object) -> None:
        return None

    await engine.watch(discard)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1"))
