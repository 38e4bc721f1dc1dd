"""Benchmark: configure-step download throughput and peak RSS.

Serves generated files (default one of 200 MiB, never held in memory) from a local HTTP server,
runs `python -m operator_argo.steps.configure` on them as a subprocess, and prints MB/s and the
step's peak resident memory. `--files N` splits the bytes over N files of one input;
`--rate-mib R` caps each response at R MiB/s, as a far server would, which shows what
downloading several files at once gains. Run from the repository root:
`python -m bench.steps_download [--mib 200] [--files 8 --rate-mib 25]`.
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


def _spec(urls: tuple[str, ...]) -> JobSpec:
    return JobSpec(
        inputs=(InputSpec(index=0, did="did:op:" + "ab" * 32, urls=urls),),
        algorithm=AlgorithmSpec(
            did=None,
            container=ContainerSpec(entrypoint="python $ALGO", image="python"),
            rawcode="1",
        ),
    )


async def _run(size: int, files: int, rate: float | None, workdir: Path) -> dict[str, float]:
    fake = FakeOcean(ENV_ADDRESS)
    fake.rate_limit = rate
    names = [f"part{k}" for k in range(files)]
    for name in names:
        fake.generated[name] = size // files
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    env = {
        **os.environ,
        "VOLUME": str(workdir / "data"),
        "OPERATOR_ADMIN_DIR": str(workdir / "admin"),
        "OPERATOR_JOB_ID": "bench",
        "OPERATOR_RESULT_FILE": str(workdir / "result.json"),
        "OPERATOR_JOB_SPEC": json.dumps(
            spec_to_dict(_spec(tuple(fake.file_url(name) for name in names)))
        ),
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
    written = sum(item["bytes"] for item in result["inputs"][0]["files"])
    assert written == size // files * files, (written, size)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: KiB
    return {"seconds": elapsed, "mb_per_s": size / elapsed / 1e6, "peak_rss_mib": peak_kib / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=200, help="MiB served in all")
    parser.add_argument("--files", type=int, default=1, help="files the bytes are split over")
    parser.add_argument("--rate-mib", type=float, help="MiB/s cap per response (default: none)")
    args = parser.parse_args()
    size = args.mib * 1024 * 1024
    rate = args.rate_mib * 1024 * 1024 if args.rate_mib else None
    with tempfile.TemporaryDirectory(prefix="operator-argo-bench-") as tmp:
        stats = _run_sync(size, args.files, rate, Path(tmp))
    if rate:
        print(f"one file at a time would take at least {size / rate:.2f} s at that cap")
    print(
        f"configure downloaded {args.mib} MiB in {args.files} file(s) in {stats['seconds']:.2f} s "
        f"(incl. process start): {stats['mb_per_s']:.1f} MB/s, "
        f"peak RSS of the step {stats['peak_rss_mib']:.1f} MiB"
    )


def _run_sync(size: int, files: int, rate: float | None, workdir: Path) -> dict[str, float]:
    return asyncio.run(_run(size, files, rate, workdir))


if __name__ == "__main__":
    main()
