"""Top-level request parameters of each route, checked in the contract's order, as plain values."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from operator_argo.api.body import is_storable
from operator_argo.auth.policy import parse_nonce
from operator_argo.domain.errors import InvalidRequest
from operator_argo.domain.job import JobFilter

START_REQUIRED = ("workflow", "agreementId", "owner", "providerSignature", "environment", "nonce")
FILTER_REQUIRED = "You have to specify one of agreementId, jobId or owner"
MAX_TEXT = 1024

# chainId, validUntil and a result index: at most 18 digits, so any of them fits PostgreSQL's
# bigint. Given as a JSON integer or as a string of digits (a query string has nothing else).
MAX_DIGITS = 18
LARGEST = 10**MAX_DIGITS - 1
UNSIGNED_TEXT = r"^\s*[0-9]{1,18}\s*$"
SIGNED_TEXT = r"^\s*-?[0-9]{1,18}\s*$"
_UNSIGNED = re.compile(UNSIGNED_TEXT)
_SIGNED = re.compile(SIGNED_TEXT)


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
    if len(value) > MAX_TEXT:
        raise InvalidRequest(f"{key} is too long")
    if not is_storable(value):
        raise InvalidRequest(f"{key} must be text without NUL characters")
    if required and not value.strip():
        raise InvalidRequest(f"{key} must not be empty")
    return value


def parse_integer(
    value: Any, key: str, *, signed: bool = False, integral_floats: bool = False
) -> int | None:
    """`value` as an integer of at most 18 digits (non-negative unless `signed`): a JSON
    integer or a string of digits (or, with `integral_floats`, a number like 1.7e9); None when
    absent or empty. Anything else is an InvalidRequest naming `key`, the same whether it came
    in a body or a query string."""
    if value is None or value == "":
        return None
    if integral_floats and isinstance(value, float) and value.is_integer():
        value = int(value)  # range-checked below
    if isinstance(value, str) and (_SIGNED if signed else _UNSIGNED).match(value):
        value = int(value.strip())
    lowest = -LARGEST if signed else 0
    if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= LARGEST:
        kind = "an integer" if signed else "a non-negative integer"
        raise InvalidRequest(f"{key} must be {kind} of at most {MAX_DIGITS} digits")
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
        chain_id=parse_integer(params.get("chainId"), "chainId"),
        provider_address=_text(params, "providerAddress", required=False),
        valid_until=parse_integer(params.get("validUntil"), "validUntil", integral_floats=True),
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


def parse_result_query(params: Mapping[str, Any]) -> ResultFields:
    """GET /getResult: jobId, owner and an integer index."""
    index = parse_integer(params.get("index"), "index", signed=True)
    if index is None:
        raise InvalidRequest("index is required")
    return ResultFields(
        job_id=str(_text(params, "jobId", required=True)),
        owner=str(_text(params, "owner", required=True)),
        index=index,
        signature=params.get("providerSignature"),
        nonce=params.get("nonce"),
    )
