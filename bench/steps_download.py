"""Benchmark: configure-step download throughput and peak RSS for one large input.

Serves a generated file (default 200 MiB, never held in memory) from a local HTTP server, runs
`python -m operator_argo.steps.configure` on it as a subprocess, and prints MB/s and the step's
peak resident memory. Run from the repository root: `python -m bench.steps_download [--mib 200]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from aiohttp.test_utils import TestServer

from operator_argo.domain.job import AlgorithmSpec, ContainerSpec, InputSpec, JobSpec, spec_to_dict
from tests.fakes.ocean import ENV_ADDRESS, ENV_KEY, FakeOcean


def _spec(url: str) -> JobSpec:
    return JobSpec(
        inputs=(InputSpec(index=0, did="did:op:" + "ab" * 32, urls=(url,)),),
        algorithm=AlgorithmSpec(
            did=None,
            container=ContainerSpec(entrypoint="python $ALGO", image="python"),
            rawcode="1",
        ),
    )


async def _run(size: int, workdir: Path) -> dict[str, float]:
    fake = FakeOcean(ENV_ADDRESS)
    fake.generated["big"] = size
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    env = {
        **os.environ,
        "VOLUME": str(workdir / "data"),
        "OPERATOR_ADMIN_DIR": str(workdir / "admin"),
        "OPERATOR_JOB_ID": "bench",
        "OPERATOR_RESULT_FILE": str(workdir / "result.json"),
        "OPERATOR_JOB_SPEC": json.dumps(spec_to_dict(_spec(fake.file_url("big")))),
        "OPERATOR_ENV_KEY": ENV_KEY,
        "OPERATOR_MAX_INPUT_BYTES": str(size * 2),
    }
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "operator_argo.steps.configure", env=env
    )
    code = await proc.wait()
    elapsed = time.monotonic() - started
    await server.close()
    if code != 0:
        raise SystemExit(f"configure exited with {code}")
    result = json.loads((workdir / "result.json").read_text())
    written = result["inputs"][0]["files"][0]["bytes"]
    assert written == size, (written, size)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: KiB
    return {"seconds": elapsed, "mb_per_s": size / elapsed / 1e6, "peak_rss_mib": peak_kib / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=200, help="size of the served file in MiB")
    args = parser.parse_args()
    size = args.mib * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="operator-argo-bench-") as tmp:
        stats = _run_sync(size, Path(tmp))
    print(
        f"configure downloaded {args.mib} MiB in {stats['seconds']:.2f} s "
        f"(incl. process start): {stats['mb_per_s']:.1f} MB/s, "
        f"peak RSS of the step {stats['peak_rss_mib']:.1f} MiB"
    )


def _run_sync(size: int, workdir: Path) -> dict[str, float]:
    return asyncio.run(_run(size, workdir))


if __name__ == "__main__":
    main()
