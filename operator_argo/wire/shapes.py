"""The request shape of each route, declared once: the parsers below walk these declarations and
api/openapi.py describes them, so the document states exactly what is parsed.

Checks run in the contract's order: POST /compute names its first missing key, then each value's
type; the workflow is only parsed by the service, after the signature (CONTRACT.md section 2).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from operator_argo.domain.errors import InvalidRequest
from operator_argo.domain.job import JobFilter
from operator_argo.domain.messages import FILTER_REQUIRED, PAYLOAD_EMPTY, required_key
from operator_argo.wire.values import Integer, Json, Kind, Nonce, Schema, Signature, Text

WORKFLOW_REF = "#/components/schemas/Workflow"


@dataclasses.dataclass(frozen=True)
class Param:
    """One parameter of a request: its wire name, its kind, whether it must be there."""

    name: str
    kind: Kind
    required: bool = False
    doc: str = ""

    def parse(self, params: Mapping[str, Any]) -> Any:
        return self.kind.parse(params.get(self.name), self.name, required=self.required)

    def schema(self, *, in_query: bool) -> Schema:
        schema = self.kind.schema(in_query=in_query, required=self.required)
        return {**schema, "description": self.doc} if self.doc else schema


Shape = tuple[Param, ...]

TEXT = Text()
SIGNATURE = Param("providerSignature", Signature())
NONCE = Param("nonce", Nonce())
SIGNED_KEYS = (SIGNATURE.name, NONCE.name)

START: Shape = (
    Param("workflow", Json({"$ref": WORKFLOW_REF}), required=True),
    Param("agreementId", TEXT, required=True),
    Param("owner", TEXT, required=True),
    dataclasses.replace(SIGNATURE, required=True),
    Param("environment", TEXT, required=True),
    dataclasses.replace(NONCE, required=True, doc="used once per signer; may have 19 digits"),
    Param("chainId", Integer()),
    Param("providerAddress", TEXT),
    Param(
        "validUntil",
        Integer(integral_floats=True),
        doc="unix seconds; one that is not in the future is a 400 (preflight)",
    ),
)
"""POST /compute (a JSON body)."""

FILTER_KEYS = ("jobId", "owner", "agreementId")
FILTER: Shape = (*(Param(key, TEXT) for key in FILTER_KEYS), SIGNATURE, NONCE)
"""GET, PUT and DELETE /compute: one of the filter keys with 2 or more characters."""
MIN_FILTER_LENGTH = 2

RESULT: Shape = (
    Param("index", Integer(signed=True), required=True),
    Param("jobId", TEXT, required=True),
    Param("owner", TEXT, required=True),
    SIGNATURE,
    NONCE,
    Param("consumerSignature", Json({"type": "string"}), doc="ignored"),
)
"""GET /getResult."""

LOGS: Shape = (
    Param("jobId", TEXT, required=True),
    Param("owner", TEXT, required=True),
    SIGNATURE,
    NONCE,
)
"""GET /computeLogs: signed like getResult (owner, then jobId)."""

CHAIN: Shape = (Param("chainId", Integer()),)
"""GET /environments (a query string only)."""

PAGE: Shape = (
    Param("limit", Integer(), doc="at most this many jobs; all when absent"),
    Param("offset", Integer(), doc="skip this many jobs first (oldest first)"),
)
"""GET /runningjobs (a query string only; without one, every running job)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Signed:
    """What the caller signed: the text it signed over (the nonce is appended), the signature
    as sent and the nonce (CONTRACT.md section 5)."""

    parts: Sequence[str]
    signature: Any
    nonce: int | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class StartRequest:
    """POST /compute; `workflow` as sent, parsed after the signature is verified."""

    workflow: Any
    agreement_id: str
    owner: str
    environment: str
    signed: Signed
    chain_id: int | None
    provider_address: str | None
    valid_until: int | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class FilterRequest:
    """GET/PUT/DELETE /compute: the job filter and what the provider signed."""

    flt: JobFilter
    signed: Signed


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResultRequest:
    """GET /getResult."""

    job_id: str
    owner: str
    index: int
    signed: Signed


@dataclasses.dataclass(frozen=True, kw_only=True)
class LogRequest:
    """GET /computeLogs."""

    job_id: str
    owner: str
    signed: Signed


def parse_shape(shape: Shape, params: Mapping[str, Any]) -> dict[str, Any]:
    """Each parameter of `shape`, parsed in its declared order."""
    return {param.name: param.parse(params) for param in shape}


def parse_start(params: Mapping[str, Any], *, signed: bool = True) -> StartRequest:
    """POST /compute: the first missing key, then each scalar's type. Unless `signed` (a body
    rendered offline, with no caller), the signature and nonce are not read."""
    if not params:
        raise InvalidRequest(PAYLOAD_EMPTY)
    shape = START if signed else tuple(p for p in START if p.name not in SIGNED_KEYS)
    for param in shape:
        if param.required and params.get(param.name) is None:
            raise InvalidRequest(required_key(param.name))
    values = parse_shape(shape, params)
    return StartRequest(
        workflow=values["workflow"],
        agreement_id=values["agreementId"],
        owner=values["owner"],
        environment=values["environment"],
        signed=Signed(
            parts=(values["owner"],),
            signature=values.get(SIGNATURE.name),
            nonce=values.get(NONCE.name),
        ),
        chain_id=values["chainId"],
        provider_address=values["providerAddress"],
        valid_until=values["validUntil"],
    )


def _filter_value(value: str | None) -> str | None:
    return value if value is not None and len(value) >= MIN_FILTER_LENGTH else None


def parse_filter(params: Mapping[str, Any]) -> FilterRequest:
    """GET/PUT/DELETE /compute: at least one of agreementId, jobId, owner (2+ characters);
    the filter is checked before the nonce."""
    texts = parse_shape(FILTER[: len(FILTER_KEYS)], params)
    flt = JobFilter(
        job_id=_filter_value(texts["jobId"]),
        owner=_filter_value(texts["owner"]),
        agreement_id=_filter_value(texts["agreementId"]),
    )
    if flt.is_empty:
        raise InvalidRequest(FILTER_REQUIRED)
    return FilterRequest(
        flt=flt,
        signed=Signed(
            parts=(texts["owner"] or "", texts["jobId"] or ""),
            signature=SIGNATURE.parse(params),
            nonce=NONCE.parse(params),
        ),
    )


def _job_signed(values: Mapping[str, Any]) -> Signed:
    """What getResult and computeLogs sign: the owner, then the jobId."""
    return Signed(
        parts=(values["owner"], values["jobId"]),
        signature=values[SIGNATURE.name],
        nonce=values[NONCE.name],
    )


def parse_result(params: Mapping[str, Any]) -> ResultRequest:
    """GET /getResult: an integer index, jobId and owner."""
    values = parse_shape(RESULT, params)
    return ResultRequest(
        job_id=values["jobId"],
        owner=values["owner"],
        index=values["index"],
        signed=_job_signed(values),
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Page:
    """Which part of a listing: `limit` jobs (None: all) after the first `offset`."""

    limit: int | None = None
    offset: int = 0


def parse_page(params: Mapping[str, Any]) -> Page:
    """GET /runningjobs: an optional limit and offset."""
    values = parse_shape(PAGE, params)
    return Page(limit=values["limit"], offset=values["offset"] or 0)


def parse_logs(params: Mapping[str, Any]) -> LogRequest:
    """GET /computeLogs: jobId and owner."""
    values = parse_shape(LOGS, params)
    return LogRequest(job_id=values["jobId"], owner=values["owner"], signed=_job_signed(values))


def parse_chain(params: Mapping[str, Any]) -> int | None:
    """GET /environments: the chainId to filter on, if any."""
    chain_id: int | None = parse_shape(CHAIN, params)["chainId"]
    return chain_id
