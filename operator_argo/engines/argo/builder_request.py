"""A POST /compute request body turned into a domain Job, for rendering workflows offline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from operator_argo.domain.errors import InvalidRequest
from operator_argo.domain.job import (
    Address,
    AlgorithmSpec,
    ContainerSpec,
    InputSpec,
    Job,
    JobId,
    JobSpec,
    RemoteSource,
)
from operator_argo.domain.messages import MULTIPLE_STAGES, required_key
from operator_argo.domain.status import JobStatus


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidRequest(f"{where} must be an object")
    return value


def _urls(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(item) for item in value)


def _remote(value: Any, user_data_key: str) -> RemoteSource | None:
    if value is None:
        return None
    data = _mapping(value, "remote")
    endpoint = data.get("serviceEndpoint")
    return RemoteSource(
        tx_id=str(data.get("txId", "")),
        service_id=str(data.get("serviceId", "")),
        user_data=data.get(user_data_key),
        service_endpoint=None if endpoint is None else str(endpoint),
    )


def _input(item: Any, position: int) -> InputSpec:
    data = _mapping(item, f"input[{position}]")
    return InputSpec(
        index=int(data.get("index", position)),
        did=str(data.get("id", "")),
        urls=_urls(data.get("url")),
        remote=_remote(data.get("remote"), "userdata"),
    )


def _algorithm(value: Any) -> AlgorithmSpec:
    data = _mapping(value, "algorithm")
    container = _mapping(data.get("container"), "algorithm.container")
    return AlgorithmSpec(
        did=None if "id" not in data else str(data["id"] or ""),
        container=ContainerSpec(
            entrypoint=str(container.get("entrypoint", "")),
            image=str(container.get("image", "")),
            tag=str(container.get("tag") or "latest"),
            checksum=str(container.get("checksum") or ""),
        ),
        rawcode=str(data.get("rawcode") or ""),
        urls=_urls(data.get("url")),
        remote=_remote(data.get("remote"), "userData"),
        custom_data=data.get("algocustomdata"),
        user_data=data.get("algouserdata"),
    )


def spec_from_request(body: Mapping[str, Any]) -> JobSpec:
    """The JobSpec of a POST /compute body (one stage: input, algorithm, output)."""
    workflow = _mapping(body.get("workflow"), "workflow")
    stages = workflow.get("stages")
    if not isinstance(stages, list) or len(stages) != 1:
        raise InvalidRequest(MULTIPLE_STAGES)
    stage = _mapping(stages[0], "stage 0")
    inputs = stage.get("input") or []
    if not isinstance(inputs, list):
        raise InvalidRequest("input must be a list")
    output = stage.get("output") or {}
    metadata_uri = _mapping(output, "output").get("metadataUri")
    return JobSpec(
        inputs=tuple(_input(item, i) for i, item in enumerate(inputs)),
        algorithm=_algorithm(stage.get("algorithm")),
        metadata_uri=None if metadata_uri is None else str(metadata_uri),
    )


def job_from_request(body: Mapping[str, Any], *, job_id: str, now: dt.datetime) -> Job:
    """A queued Job for a POST /compute body, created at `now` with id `job_id`."""
    for key in ("workflow", "agreementId", "owner", "environment"):
        if key not in body:
            raise InvalidRequest(required_key(key))
    valid_until = body.get("validUntil")
    chain_id = body.get("chainId")
    provider = body.get("providerAddress")
    return Job(
        job_id=JobId(job_id),
        owner=Address(str(body["owner"])),
        agreement_id=str(body["agreementId"]),
        environment=str(body["environment"]),
        spec=spec_from_request(body),
        status=JobStatus.QUEUED,
        date_created=now,
        chain_id=None if chain_id is None else int(chain_id),
        provider_address=None if provider is None else str(provider),
        valid_until=None if valid_until is None else int(valid_until),
    )
