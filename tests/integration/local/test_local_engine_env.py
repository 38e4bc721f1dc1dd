"""What the steps are given: Secret refs resolved from the operator, paths mapped, no leaks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import structlog

from operator_argo.config import IpfsSettings, Settings
from operator_argo.domain.environment import Environment
from operator_argo.domain.job import Job, spec_from_dict
from operator_argo.domain.observation import Phase
from operator_argo.engines.argo.builder import build_workflow
from operator_argo.engines.local.engine import LocalEngine
from tests.fakes.ipfs import API_KEY, CLIENT_ID, FakeIpfs, fake_ipfs
from tests.integration.local.localkit import Recorder, make_environment, make_job, replay

__all__ = ["fake_ipfs"]

ENV_KEY = "5c" * 32
# Runs the real step after saving the environment it was given next to its result file.
DUMP_THEN_RUN = (
    "import json, os, runpy, sys\n"
    "json.dump(dict(os.environ), open(os.environ['OPERATOR_RESULT_FILE'] + '.env', 'w'))\n"
    "sys.argv = [sys.argv[0]]\n"
    "runpy.run_module('operator_argo.steps.' + os.environ['STEP'], run_name='__main__')\n"
)


def _dumping_build(job: Job, environment: Environment, settings: Settings) -> dict[str, Any]:
    workflow = build_workflow(job, environment, settings)
    for template in workflow["spec"]["templates"]:
        if template["name"] in ("configure", "publish"):
            container = template["container"]
            container["command"] = ["python", "-c", DUMP_THEN_RUN]
            container["env"].append({"name": "STEP", "value": template["name"]})
    return workflow


def _env_of(engine: LocalEngine, job: Job, step: str) -> dict[str, str]:
    path = engine.layout(job.job_id).result_file(step).with_suffix(".json.env")
    env: dict[str, str] = json.loads(path.read_text())
    return env


async def test_secret_refs_come_from_the_operator_and_paths_map_to_the_job(
    settings: Settings, fake_ipfs: FakeIpfs, bwrap: str
) -> None:
    settings = Settings(
        data_dir=settings.data_dir,
        storage_backend="ipfs",
        ipfs=IpfsSettings(
            url=fake_ipfs.url, api_key=API_KEY, client_id=CLIENT_ID, secret_name="ipfs-creds"
        ),
    )
    engine = LocalEngine(settings, key_for=lambda env: ENV_KEY, bwrap=bwrap, build=_dumping_build)
    code = "import os\nopen('/data/outputs/r.txt', 'w').write('result')\n"
    job = make_job(code)
    try:
        with structlog.testing.capture_logs() as logs:
            async with Recorder(engine) as recorder:
                await engine.submit(job, make_environment())
                final = await recorder.final(job.job_id)
    finally:
        await engine.close()
    layout = engine.layout(job.job_id)
    configure, publish = _env_of(engine, job, "configure"), _env_of(engine, job, "publish")
    assert configure["OPERATOR_ENV_KEY"] == ENV_KEY and "OPERATOR_ENV_KEY" not in publish
    assert configure["VOLUME"] == str(layout.data) == publish["VOLUME"]
    assert configure["OPERATOR_ADMIN_DIR"] == str(layout.admin)
    assert configure["OPERATOR_RESULT_FILE"] == str(layout.result_file("configure"))
    # The job spec reaches configure byte for byte: /data inside user code is not rewritten.
    assert spec_from_dict(json.loads(configure["OPERATOR_JOB_SPEC"])) == job.spec
    assert (publish["X_API_KEY"], publish["CLIENT_ID"]) == (API_KEY, CLIENT_ID)
    assert (publish["OPERATOR_STORAGE"], publish["IPFS_URL"]) == ("ipfs", fake_ipfs.url)
    assert final.phase is Phase.SUCCEEDED, final.message
    end, _ = replay(job, recorder.of(job.job_id))
    assert [r.filename for r in end.results or ()][:1] == ["r.txt"]
    assert fake_ipfs.refused == 0 and b"result" in fake_ipfs.objects.values()
    assert ENV_KEY not in repr(logs) and API_KEY not in repr(logs)


async def test_workflow_deadline_stops_the_job_and_still_publishes(
    make_engine: Callable[..., LocalEngine],
) -> None:
    def short_build(job: Job, environment: Environment, settings: Settings) -> dict[str, Any]:
        workflow = build_workflow(job, environment, settings)
        workflow["spec"]["activeDeadlineSeconds"] = 6
        return workflow

    engine = make_engine(build=short_build)
    job = make_job("import time\ntime.sleep(120)\n")
    started = time.monotonic()
    async with Recorder(engine) as recorder:
        await engine.submit(job, make_environment())
        final = await recorder.final(job.job_id)
    assert time.monotonic() - started < 6 + 1 + 15
    assert final.deadline_exceeded and final.phase is Phase.FAILED
    assert final.message == "workflow exceeded its deadline of 6 s"
    assert final.steps["algorithm"].phase is Phase.FAILED
    assert final.steps["publish"].phase is Phase.SUCCEEDED
    end, statuses = replay(job, recorder.of(job.job_id))
    assert statuses[-1] == 70 and int(end.stopreq) == 2
