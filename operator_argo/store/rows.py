"""Rows: conversion between the `jobs` table's columns and domain.job types."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from psycopg.types.json import Jsonb

from operator_argo.domain.job import (
    Address,
    Job,
    JobId,
    JobUpdate,
    NewJob,
    TerminationDetails,
    results_from_list,
    results_to_list,
    spec_from_dict,
    spec_to_dict,
)
from operator_argo.domain.status import JobStatus, StopReason

_STATUS_BY_CODE = {int(status): status for status in JobStatus}


def status_from_code(code: int) -> JobStatus:
    """The JobStatus stored as `code` (KeyError for a code no migration ever wrote)."""
    return _STATUS_BY_CODE[code]


def job_from_row(row: Mapping[str, Any]) -> Job:
    """The domain Job of one `jobs` row."""
    termination = row["termination"]
    results = row["results"]
    return Job(
        job_id=JobId(row["job_id"]),
        owner=Address(row["owner"]),
        agreement_id=row["agreement_id"],
        environment=row["environment"],
        spec=spec_from_dict(row["spec"]),
        status=status_from_code(row["status"]),
        date_created=row["date_created"],
        chain_id=row["chain_id"],
        provider_address=row["provider_address"],
        valid_until=row["valid_until"],
        stopreq=StopReason(row["stopreq"]),
        removed=row["removed"],
        date_finished=row["date_finished"],
        results=None if results is None else results_from_list(results),
        termination=None if termination is None else TerminationDetails(**termination),
        workflow_name=row["workflow_name"],
        submitted_at=row["submitted_at"],
        algorithm_started_at=row["algorithm_started_at"],
        results_deleted_at=row["results_deleted_at"],
        error=row["error"],
    )


def new_job_params(job: NewJob, status: JobStatus) -> dict[str, Any]:
    """Query parameters for inserting `job` with `status`."""
    return {
        "job_id": job.job_id,
        "owner": job.owner,
        "agreement_id": job.agreement_id,
        "environment": job.environment,
        "status": int(status),
        "spec": Jsonb(spec_to_dict(job.spec)),
        "chain_id": job.chain_id,
        "provider_address": job.provider_address,
        "valid_until": job.valid_until,
    }


def update_params(job_id: str, update: JobUpdate, finished: bool) -> dict[str, Any]:
    """Query parameters for applying `update`; None means "keep the stored value"."""
    return {
        "job_id": job_id,
        "status": int(update.status),
        "finished": finished,
        "results": None if update.results is None else Jsonb(results_to_list(update.results)),
        "termination": (
            None if update.termination is None else Jsonb(dataclasses.asdict(update.termination))
        ),
        "stopreq": None if update.stopreq is None else int(update.stopreq),
        "algorithm_started_at": update.algorithm_started_at,
        "error": update.error,
    }
