"""Rows: conversion between the `jobs` table's columns and domain.job types."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from collections.abc import Iterator, Mapping
from typing import Any

from psycopg.types.json import Jsonb

from operator_argo.domain.job import (
    Address,
    Job,
    JobId,
    JobSpec,
    JobUpdate,
    NewJob,
    StatusChange,
    TerminationDetails,
    results_from_list,
    results_to_list,
    spec_from_dict,
    spec_to_dict,
)
from operator_argo.domain.status import JobStatus, StopReason

_STATUS_BY_CODE = {int(status): status for status in JobStatus}

# Free-form JSON a request may carry (algocustomdata, algouserdata, a remote's userdata): jsonb
# cannot hold a NUL character or an unpaired surrogate in it, so such a value is stored as its
# JSON text under the key with this suffix instead.
_AS_TEXT = "_json"
_FREE_FORM = ("custom_data", "user_data")


def _free_form_holders(spec: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The dicts of a stored spec that hold free-form values."""
    algorithm = spec["algorithm"]
    yield algorithm
    for remote in [algorithm.get("remote"), *(item.get("remote") for item in spec["inputs"])]:
        if isinstance(remote, dict):
            yield remote


def _jsonb_refuses(value: Any) -> bool:
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return "\\u0000" in text


def spec_to_row(spec: JobSpec) -> dict[str, Any]:
    """The spec as the `spec` column stores it."""
    data = spec_to_dict(spec)
    for holder in _free_form_holders(data):
        for key in _FREE_FORM:
            if _jsonb_refuses(holder.get(key)):
                holder[key + _AS_TEXT] = json.dumps(holder.pop(key))
    return data


def spec_from_row(stored: Mapping[str, Any]) -> JobSpec:
    """Inverse of `spec_to_row`."""
    held = [key + _AS_TEXT in holder for holder in _free_form_holders(stored) for key in _FREE_FORM]
    if not any(held):
        return spec_from_dict(stored)
    data = copy.deepcopy(dict(stored))
    for holder in _free_form_holders(data):
        for key in _FREE_FORM:
            if key + _AS_TEXT in holder:
                holder[key] = json.loads(holder.pop(key + _AS_TEXT))
    return spec_from_dict(data)


def status_from_code(code: int) -> JobStatus:
    """The JobStatus stored as `code` (KeyError for a code no migration ever wrote)."""
    return _STATUS_BY_CODE[code]


def history_from_json(entries: list[Mapping[str, Any]] | None) -> tuple[StatusChange, ...]:
    """The `history` column of the status queries: json_agg of {status, at} (at in ISO 8601)."""
    return tuple(
        StatusChange(
            status=status_from_code(int(entry["status"])),
            at=dt.datetime.fromisoformat(str(entry["at"])),
        )
        for entry in entries or ()
    )


def job_from_row(row: Mapping[str, Any]) -> Job:
    """The domain Job of one `jobs` row."""
    termination = row["termination"]
    results = row["results"]
    return Job(
        job_id=JobId(row["job_id"]),
        owner=Address(row["owner"]),
        agreement_id=row["agreement_id"],
        environment=row["environment"],
        spec=spec_from_row(row["spec"]),
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
        history=history_from_json(row["history"]) if "history" in row else None,
    )


def new_job_params(job: NewJob, status: JobStatus) -> dict[str, Any]:
    """Query parameters for inserting `job` with `status`."""
    return {
        "job_id": job.job_id,
        "owner": job.owner,
        "agreement_id": job.agreement_id,
        "environment": job.environment,
        "status": int(status),
        "spec": Jsonb(spec_to_row(job.spec)),
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
