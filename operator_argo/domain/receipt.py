"""Job receipts: what a finished job ran on and produced, in a form anyone can check later.

A receipt is one more result of a finished job, `receipt.json` (type `receipt`). Its `receipt`
member states the job, its environment and that environment's address, the algorithm as
requested (image, tag, checksum, entrypoint), the image that ran by digest where the engine can
say (Argo: the algorithm container's `imageID`), the sha256 of the code configure wrote, the
sha256 and size of every input file as configure stored it and of every file publish uploaded,
the times, the exit code, the stop reason and the limits applied. `signature` is the
environment key's EIP-191 signature over the keccak256 of `canonical_bytes(receipt)`, so the
receipt and the environment's address (GET /environments' `consumerAddress`) are all a verifier
needs (auth/receipts.py; `operator-argo receipt verify`).

The steps report the hashes in their JSON results; the operator, which holds the key, builds and
signs the receipt when it stores the final status: no key enters a pod or a workflow spec.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from operator_argo.domain.environment import Environment
from operator_argo.domain.job import Job, JobUpdate, ResultFile
from operator_argo.domain.observation import Observation
from operator_argo.domain.status import StopReason

RECEIPT_FILENAME = "receipt.json"
RECEIPT_TYPE = "receipt"
RECEIPT_VERSION = 1
_READ_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """The hex sha256 of the file at `path` (read in chunks: outputs may be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def canonical_bytes(value: Mapping[str, Any]) -> bytes:
    """The one byte form that is signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _when(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def _inputs(configure_output: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Each input as configure reported it: its id, index and files with size and sha256."""
    inputs: list[dict[str, Any]] = []
    for entry in (configure_output or {}).get("inputs") or ():
        files = [
            {"index": item.get("index"), "bytes": item.get("bytes"), "sha256": item.get("sha256")}
            for item in entry.get("files") or ()
        ]
        inputs.append({"did": entry.get("did"), "index": entry.get("index"), "files": files})
    return inputs


def _published(results: Sequence[ResultFile]) -> list[dict[str, Any]]:
    return [
        {
            "filename": item.filename,
            "type": item.type,
            "filesize": item.filesize,
            "sha256": item.sha256 or None,
        }
        for item in results
    ]


def build_receipt(
    job: Job,
    update: JobUpdate,
    observation: Observation,
    environment: Environment,
    *,
    now: dt.datetime,
) -> dict[str, Any]:
    """The `receipt` member for `job` finishing with `update` (before it is signed)."""
    configure = observation.step("configure")
    configure_output = configure.output if configure is not None else None
    algorithm_output = (configure_output or {}).get("algorithm") or {}
    container = job.spec.algorithm.container
    termination = update.termination
    stop = update.stopreq if update.stopreq is not None else job.stopreq
    return {
        "version": RECEIPT_VERSION,
        "jobId": job.job_id,
        "agreementId": job.agreement_id,
        "owner": job.owner,
        "environment": {"id": environment.id, "consumerAddress": environment.consumer_address},
        "algorithm": {
            "did": job.spec.algorithm.did,
            "image": container.image,
            "tag": container.tag,
            "checksum": container.checksum or None,
            "entrypoint": container.entrypoint,
            "imageId": termination.image_id if termination is not None else None,
            "source": algorithm_output.get("source"),
            "codeBytes": algorithm_output.get("bytes"),
            "codeSha256": algorithm_output.get("sha256"),
        },
        "inputs": _inputs(configure_output),
        "results": _published(update.results or ()),
        "status": int(update.status),
        "statusText": update.status.text,
        "dateCreated": _when(job.date_created),
        "algorithmStartedAt": _when(update.algorithm_started_at or job.algorithm_started_at),
        "dateFinished": _when(observation.finished_at or now),
        "exitCode": termination.exit_code if termination is not None else None,
        "stopReason": int(stop) if stop is not None else int(StopReason.NONE),
        "limits": {
            "cpu": environment.cpu_number,
            "gpu": environment.gpu_number,
            "ramGb": environment.ram_gb,
            "diskGb": environment.disk_gb,
            "maxJobDurationSeconds": environment.max_job_duration,
            "network": environment.allow_network,
        },
    }


def with_receipt(update: JobUpdate, receipt: ResultFile) -> JobUpdate:
    """`update` with the stored receipt as its last result (earlier indexes do not move)."""
    return dataclasses.replace(update, results=(*(update.results or ()), receipt))
