"""Receipts through the reconciler on a real database: signed, stored last, never holding a job."""

from __future__ import annotations

import json
from pathlib import Path

from operator_argo.auth.notices import EnvironmentSigner
from operator_argo.auth.receipts import verify_receipt
from operator_argo.domain.environment import KeySource
from operator_argo.domain.status import JobStatus
from operator_argo.observability import metrics
from operator_argo.service.receipts import ReceiptPublisher
from operator_argo.service.reconciler import Reconciler
from operator_argo.storage.base import StoredResults
from operator_argo.storage.local import LocalStorage
from operator_argo.store.jobs import PostgresJobStore
from tests.fakes.engine import RecordingEngine
from tests.integration.service.test_reconciler import happy_sequence, observe
from tests.kit.factories import make_environment, new_job

KEY = "0x" + "5c" * 32
ENVIRONMENT = make_environment("env-a", key=KeySource(env="ENV_A_KEY"))
SIGNER = EnvironmentSigner.for_environments([ENVIRONMENT], {"ENV_A_KEY": KEY})
SIGNED = make_environment(
    "env-a", key=KeySource(env="ENV_A_KEY"), consumer_address=SIGNER.address("env-a")
)


def receipts_failed() -> float:
    sample = metrics.REGISTRY.get_sample_value(
        "operator_argo_receipts_total", {"outcome": "failed"}
    )
    return sample or 0.0


def stored_receipts(tmp_path: Path) -> ReceiptPublisher:
    return publisher(StoredResults(LocalStorage(tmp_path / "results")))


class BrokenStorage:
    """A result store that is down: every upload fails."""

    async def put_file(self, key: str, path: Path) -> str:
        raise OSError(5, "Input/output error")


def publisher(storage: object) -> ReceiptPublisher:
    return ReceiptPublisher(storage, SIGNER, {"env-a": SIGNED})  # type: ignore[arg-type]


async def test_a_finished_job_gets_a_verifiable_receipt_as_its_last_result(
    job_store: PostgresJobStore, tmp_path: Path
) -> None:
    job = await job_store.insert_job(new_job())
    reconciler = Reconciler(job_store, RecordingEngine(), receipts=stored_receipts(tmp_path))
    for obs in happy_sequence(job.job_id):
        await reconciler.apply(obs)
    stored = await job_store.get_job(job.job_id)
    assert stored is not None and stored.status is JobStatus.FINISHED and stored.results
    assert [r.filename for r in stored.results] == ["out.txt", "publish.log", "receipt.json"]
    receipt = stored.results[-1]
    assert receipt.type == "receipt" and receipt.sha256 and len(receipt.sha256) == 64
    document = json.loads((tmp_path / "results" / receipt.key).read_bytes())
    verdict = verify_receipt(document, address=SIGNER.address("env-a"))
    assert verdict.valid, verdict.problems
    assert document["receipt"]["jobId"] == job.job_id and document["receipt"]["status"] == 70
    assert [r["filename"] for r in document["receipt"]["results"]] == ["out.txt", "publish.log"]


async def test_a_receipt_that_cannot_be_stored_never_holds_the_job_back(
    job_store: PostgresJobStore,
) -> None:
    job = await job_store.insert_job(new_job())
    failed_before = receipts_failed()
    reconciler = Reconciler(job_store, RecordingEngine(), receipts=publisher(BrokenStorage()))
    for obs in happy_sequence(job.job_id):
        await reconciler.apply(obs)
    stored = await job_store.get_job(job.job_id)
    assert stored is not None and stored.status is JobStatus.FINISHED and stored.results
    assert [r.filename for r in stored.results] == ["out.txt", "publish.log"]
    assert receipts_failed() == failed_before + 1


async def test_a_job_whose_workflow_vanished_gets_no_receipt(
    job_store: PostgresJobStore, tmp_path: Path
) -> None:
    job = await job_store.insert_job(new_job())
    reconciler = Reconciler(job_store, RecordingEngine(), receipts=stored_receipts(tmp_path))
    await reconciler.apply(happy_sequence(job.job_id)[2])
    await reconciler.apply(observe(job.job_id, None))  # deleted behind our back
    stored = await job_store.get_job(job.job_id)
    assert stored is not None and stored.status is JobStatus.FINISHED
    assert not any(r.type == "receipt" for r in stored.results or ())
    assert not (tmp_path / "results" / job.job_id / "receipt.json").exists()


async def test_the_receipt_states_the_image_read_while_the_algorithm_pod_still_existed(
    job_store: PostgresJobStore, tmp_path: Path
) -> None:
    job = await job_store.insert_job(new_job())
    engine = RecordingEngine()
    reconciler = Reconciler(job_store, engine, receipts=stored_receipts(tmp_path))
    sequence = happy_sequence(job.job_id)
    for obs in sequence[:3]:
        await reconciler.apply(obs)
    engine.image_ids[job.job_id] = "sha256:" + "ef" * 32
    await reconciler.apply(sequence[3])  # the algorithm has ended, publish runs
    publishing = await job_store.get_job(job.job_id)
    assert publishing is not None and publishing.termination is not None
    assert publishing.termination.exit_code == 0
    assert publishing.termination.image_id == "sha256:" + "ef" * 32
    del engine.image_ids[job.job_id]  # the pods went with the finished workflow
    await reconciler.apply(sequence[4])
    stored = await job_store.get_job(job.job_id)
    assert stored is not None and stored.results and stored.termination is not None
    assert stored.termination.image_id == "sha256:" + "ef" * 32
    document = json.loads((tmp_path / "results" / stored.results[-1].key).read_bytes())
    assert document["receipt"]["algorithm"]["imageId"] == "sha256:" + "ef" * 32
    assert verify_receipt(document, address=SIGNER.address("env-a")).valid
