"""Response bodies: status, environment and info objects, field by field as the contract has
them. Plain dicts (the hot path); tests check them against the documented schemas. Running-job
objects are rendered by the store, thousands at a time (JobStore.running_listing)."""

from __future__ import annotations

from typing import Any

from operator_argo import __version__
from operator_argo.config import Settings
from operator_argo.domain.job import Job, epoch_text
from operator_argo.domain.story import public_error
from operator_argo.service.environments import EnvironmentState


def _termination(job: Job) -> dict[str, Any] | None:
    if job.termination is None:
        return None
    return {"exitCode": job.termination.exit_code, "OOMKilled": job.termination.oom_killed}


def _identity(job: Job) -> dict[str, Any]:
    """The fields that open the status object (a running-job object has them too, rendered by
    the store: JobStore.running_listing)."""
    return {
        "agreementId": job.agreement_id,
        "jobId": job.job_id,
        "owner": job.owner,
        "status": int(job.status),
        "statusText": job.status.text,
        "dateCreated": epoch_text(job.date_created),
    }


def _history(job: Job) -> list[dict[str, Any]]:
    return [
        {
            "status": int(change.status),
            "statusText": change.status.text,
            "at": epoch_text(change.at),
        }
        for change in job.history or ()
    ]


def status_object(job: Job) -> dict[str, Any]:
    """The status object of GET/PUT/POST /compute. Results never carry their storage key; the
    extra keys `error` and `statusHistory` tell the job's story (domain/story.py)."""
    results: Any = ""
    if job.results is not None:
        results = [
            {"filename": item.filename, "filesize": item.filesize, "type": item.type}
            for item in job.results
        ]
    return {
        **_identity(job),
        "dateFinished": None if job.date_finished is None else epoch_text(job.date_finished),
        "results": results,
        "stopreq": int(job.stopreq),
        "removed": 1 if job.removed else 0,
        "algoDID": job.algo_did,
        "inputDID": job.input_dids,
        "terminationDetails": _termination(job),
        "algorithmStartedAt": None
        if job.algorithm_started_at is None
        else epoch_text(job.algorithm_started_at),
        "error": public_error(job),
        "statusHistory": _history(job),
    }


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def environment_object(state: EnvironmentState, settings: Settings) -> dict[str, Any]:
    """One element of GET /environments; `consumerAddress` is an address, never a key."""
    env = state.environment
    body: dict[str, Any] = {
        "id": env.id,
        "cpuNumber": env.cpu_number,
        "cpuType": env.cpu_type,
        "gpuNumber": env.gpu_number,
        "gpuType": env.gpu_type,
        "ramGB": env.ram_gb,
        "diskGB": env.disk_gb,
        "priceMin": _number(env.price_min),
        "desc": env.desc,
        "currentJobs": state.current_jobs,
        "maxJobs": env.max_jobs,
        "consumerAddress": env.consumer_address,
        "storageExpiry": env.storage_expiry or settings.storage_expiry,
        "maxJobDuration": env.max_job_duration,
        "lastSeen": epoch_text(state.last_seen),
    }
    if env.allowed_chain_ids is not None:
        body["allowedChainId"] = list(env.allowed_chain_ids)
    return body


def info_object(settings: Settings) -> dict[str, Any]:
    """GET /: what this service is."""
    return {
        "software": "Operator service",
        "version": __version__,
        "address": settings.operator_address or None,  # the original: null when unset
        "algoTimeLimit": str(settings.algo_pod_timeout),
        "storageExpiry": str(settings.storage_expiry) if settings.storage_expiry else None,
    }
