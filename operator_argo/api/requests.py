"""Top-level request parameters of each route, checked in the contract's order, as plain values."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from operator_argo.auth.policy import parse_nonce
from operator_argo.domain.errors import InvalidRequest
from operator_argo.domain.job import JobFilter
from operator_argo.service.environments import parse_chain_id

START_REQUIRED = ("workflow", "agreementId", "owner", "providerSignature", "environment", "nonce")
FILTER_REQUIRED = "You have to specify one of agreementId, jobId or owner"
_MAX_TEXT = 1024
_MAX_UNIX_SECONDS = 2**63 - 1
_INDEX = re.compile(r"^-?[0-9]{1,18}$")


@dataclasses.dataclass(frozen=True, kw_only=True)
class StartFields:
    """POST /compute's scalar fields; `workflow` is parsed last (after the signature)."""

    workflow: Any
    agreement_id: str
    owner: str
    signature: Any
    environment: str
    nonce: int
    chain_id: int | None
    provider_address: str | None
    valid_until: int | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class FilterFields:
    """GET/PUT/DELETE /compute: the job filter and what the provider signed."""

    flt: JobFilter
    owner: str
    job_id: str
    signature: Any
    nonce: Any


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResultFields:
    """GET /getResult."""

    job_id: str
    owner: str
    index: int
    signature: Any
    nonce: Any


def _text(params: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = params.get(key)
    if value is None:
        if required:
            raise InvalidRequest(f"{key} is required")
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{key} must be a string")
    if len(value) > _MAX_TEXT:
        raise InvalidRequest(f"{key} is too long")
    if "\x00" in value or not _encodable(value):
        raise InvalidRequest(f"{key} must be text without NUL characters")
    if required and not value.strip():
        raise InvalidRequest(f"{key} must not be empty")
    return value


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unix_seconds(value: Any, key: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip()) if len(value.strip()) <= 19 else -1
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"{key} must be an integer (unix seconds)")
    if not 0 <= value <= _MAX_UNIX_SECONDS:
        raise InvalidRequest(f"{key} is out of range")
    return value


def parse_start(params: Mapping[str, Any]) -> StartFields:
    """POST /compute: the first missing key, then each scalar's type."""
    if not params:
        raise InvalidRequest("payload seems empty.")
    for key in START_REQUIRED:
        if params.get(key) is None:
            raise InvalidRequest(f'"{key}" is required in the call to POST:/compute')
    return StartFields(
        workflow=params["workflow"],
        agreement_id=str(_text(params, "agreementId", required=True)),
        owner=str(_text(params, "owner", required=True)),
        signature=params["providerSignature"],
        environment=str(_text(params, "environment", required=True)),
        nonce=parse_nonce(params["nonce"]),
        chain_id=parse_chain_id(params.get("chainId")),
        provider_address=_text(params, "providerAddress", required=False),
        valid_until=_unix_seconds(params.get("validUntil"), "validUntil"),
    )


def _filter_value(params: Mapping[str, Any], key: str) -> str | None:
    value = _text(params, key, required=False)
    return value if value is not None and len(value) >= 2 else None


def parse_filter(params: Mapping[str, Any]) -> FilterFields:
    """GET/PUT/DELETE /compute: at least one of agreementId, jobId, owner (2+ characters)."""
    flt = JobFilter(
        job_id=_filter_value(params, "jobId"),
        owner=_filter_value(params, "owner"),
        agreement_id=_filter_value(params, "agreementId"),
    )
    if flt.is_empty:
        raise InvalidRequest(FILTER_REQUIRED)
    return FilterFields(
        flt=flt,
        owner=_text(params, "owner", required=False) or "",
        job_id=_text(params, "jobId", required=False) or "",
        signature=params.get("providerSignature"),
        nonce=params.get("nonce"),
    )


def _index(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INDEX.match(value.strip()):
        return int(value.strip())
    raise InvalidRequest("index must be an integer")


def parse_result_query(params: Mapping[str, Any]) -> ResultFields:
    """GET /getResult: jobId, owner and an integer index."""
    if params.get("index") is None:
        raise InvalidRequest("index is required")
    return ResultFields(
        job_id=str(_text(params, "jobId", required=True)),
        owner=str(_text(params, "owner", required=True)),
        index=_index(params["index"]),
        signature=params.get("providerSignature"),
        nonce=params.get("nonce"),
    )
