"""Signed receipts end to end: a real job on the local engine publishes `receipt.json`, which
`operator-argo receipt verify` (the real command, in its own process) accepts with the results
downloaded through getResult and refuses once a byte of a result or of the receipt is changed,
or when another address is expected."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from eth_account import Account

from operator_argo.config import Settings
from tests.e2e.conftest import OWNER, job_request
from tests.fakes.ocean import FakeOcean
from tests.operatorkit import API, finished, running_operator, start_job

ALGORITHM = """
import os
print("writing the answer")
open(os.path.join(os.environ["OUTPUTS"], "answer.txt"), "w").write("42\\n")
"""
DATA = b"1,2\n3,4\n"


async def verify(receipt: Path, *args: str) -> tuple[int, str]:
    """Run `operator-argo receipt verify` on `receipt`; its exit code and what it printed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "operator_argo.cli", "receipt", "verify", str(receipt), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


def flip_one_byte(path: Path, at: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


async def test_a_finished_job_publishes_a_receipt_that_checks_out_and_detects_changes(
    local_settings: Settings, ocean: FakeOcean, tmp_path: Path
) -> None:
    async with running_operator(local_settings) as (_, client):
        job_id = await start_job(client, job_request(ocean, ALGORITHM, inputs={"d.csv": DATA}))
        job = await finished(client, job_id)
        resp = await client.get(f"{API}/environments")
        address = (await resp.json())[0]["consumerAddress"]
        downloaded: dict[str, Path] = {}
        for index, result in enumerate(job["results"]):
            resp = await client.get(
                f"{API}/getResult", params={"jobId": job_id, "index": str(index), "owner": OWNER}
            )
            assert resp.status == 200, await resp.text()
            path = tmp_path / result["filename"]
            path.write_bytes(await resp.read())
            downloaded[result["type"] if result["type"] == "receipt" else result["filename"]] = path

    assert job["status"] == 70
    assert job["results"][-1] == {
        "filename": "receipt.json",
        "filesize": downloaded["receipt"].stat().st_size,
        "type": "receipt",
    }
    document: dict[str, Any] = json.loads(downloaded["receipt"].read_text())
    receipt = document["receipt"]
    assert document["signer"] == address
    assert (receipt["jobId"], receipt["owner"], receipt["status"]) == (job_id, OWNER, 70)
    assert receipt["environment"] == {"id": "ocean-compute", "consumerAddress": address}
    assert receipt["algorithm"]["codeSha256"] == hashlib.sha256(ALGORITHM.encode()).hexdigest()
    assert receipt["inputs"][0]["files"] == [
        {"index": 0, "bytes": len(DATA), "sha256": hashlib.sha256(DATA).hexdigest()}
    ]
    stated = {item["filename"]: item for item in receipt["results"]}
    assert sorted(stated) == sorted(name for name in downloaded if name != "receipt")
    assert stated["answer.txt"]["sha256"] == hashlib.sha256(b"42\n").hexdigest()
    assert (receipt["exitCode"], receipt["stopReason"]) == (0, 0)
    assert receipt["limits"]["maxJobDurationSeconds"] > 0
    assert all("key" not in item for item in receipt["results"])  # storage keys stay inside

    results = [str(path) for name, path in downloaded.items() if name != "receipt"]
    code, output = await verify(downloaded["receipt"], *results, "--address", address)
    assert code == 0, output
    assert f"signed by {address}" in output

    other = str(Account.create().address)
    code, output = await verify(downloaded["receipt"], *results, "--address", other)
    assert code == 1
    assert f"signed by {address}, not by the address given ({other})" in output

    flip_one_byte(downloaded["answer.txt"])
    code, output = await verify(downloaded["receipt"], *results, "--address", address)
    assert code == 1
    assert "answer.txt: its sha256 is not the one the receipt states" in output
    flip_one_byte(downloaded["answer.txt"])  # back as published

    text = downloaded["receipt"].read_text()
    flip_one_byte(downloaded["receipt"], text.index(stated["answer.txt"]["sha256"]))
    code, output = await verify(downloaded["receipt"], "--address", address)
    assert code == 1
    assert "not by the address given" in output

    changed = dict(document, receipt=dict(receipt, exitCode=1))
    downloaded["receipt"].write_text(json.dumps(changed))
    code, output = await verify(downloaded["receipt"], *results)
    assert code == 1
    assert "not by the environment address it states" in output
