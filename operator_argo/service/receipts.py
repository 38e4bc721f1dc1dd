"""The receipt publisher: signs a finishing job's receipt and stores it beside its results.

The reconciler calls it with a job's final update, before the update is stored: the receipt is
uploaded under `<jobId>/receipt.json` and becomes the job's last result, so a crash between the
upload and the store repeats both on the next observation (same key, same content but the
time). A receipt that cannot be made never holds the job back: the job finishes without one,
logged and counted (operator_argo_receipts_total).
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import Mapping
from pathlib import Path

import structlog

from operator_argo.auth.notices import EnvironmentSigner
from operator_argo.auth.receipts import signed_receipt
from operator_argo.domain.clock import SYSTEM_CLOCK, Clock
from operator_argo.domain.environment import Environment
from operator_argo.domain.errors import OperatorError
from operator_argo.domain.job import Job, JobUpdate, ResultFile
from operator_argo.domain.observation import Observation
from operator_argo.domain.ports import ResultWriter
from operator_argo.domain.receipt import (
    RECEIPT_FILENAME,
    RECEIPT_TYPE,
    build_receipt,
    with_receipt,
)
from operator_argo.observability import metrics
from operator_argo.storage.base import result_key

log = structlog.get_logger(__name__)


class ReceiptPublisher:
    """Adds a signed receipt to each final update of a job whose environment key it holds."""

    def __init__(
        self,
        storage: ResultWriter,
        signer: EnvironmentSigner,
        environments: Mapping[str, Environment],
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._storage = storage
        self._signer = signer
        self._environments = dict(environments)
        self._clock = clock

    async def attach(self, job: Job, update: JobUpdate, observation: Observation) -> JobUpdate:
        """`update` with the receipt as its last result, or unchanged when none can be made."""
        environment = self._environments.get(job.environment)
        if environment is None or not self._signer.signs_for(environment.id):
            metrics.record_receipt("unsigned")
            return update
        receipt = build_receipt(job, update, observation, environment, now=self._clock.now())
        body = signed_receipt(receipt, self._signer, environment.id)
        try:
            stored = await self._store(job.job_id, body)
        except (OperatorError, OSError) as exc:
            reason = exc.message if isinstance(exc, OperatorError) else exc.strerror
            log.warning("receipt_failed", job_id=job.job_id, error=reason)
            metrics.record_receipt("failed")
            return update
        metrics.record_receipt("published")
        return with_receipt(update, stored)

    async def _store(self, job_id: str, body: bytes) -> ResultFile:
        with tempfile.TemporaryDirectory(prefix="receipt-") as folder:
            path = Path(folder) / RECEIPT_FILENAME
            await asyncio.to_thread(path.write_bytes, body)
            key = await self._storage.put_file(result_key(job_id, RECEIPT_FILENAME), path)
        digest = hashlib.sha256(body).hexdigest()
        return ResultFile(
            filename=RECEIPT_FILENAME, filesize=len(body), type=RECEIPT_TYPE, key=key, sha256=digest
        )
