"""The request side of the OpenAPI document: every constraint the parsers enforce and every
status the routes answer, so that a request the document calls valid is never refused with a
400, and one it calls invalid is never accepted.

The schemas are built from the constants the parsers use (requests.py, schemas.py, the nonce
and signature rules in auth); the environments and the signature mode come from the settings,
so the document describes the server that serves it. One rule has no schema form and is
stated in words: an agreementId already used by an unfinished job is a 400 (the contract's).
Responses are documented by the handlers' decorators (docs.py); this adds the errors.
"""

from __future__ import annotations

from typing import Any

from operator_argo.api.requests import LARGEST, MAX_DIGITS, MAX_TEXT, SIGNED_TEXT
from operator_argo.api.schemas import INT32, MAX_ID, MAX_TAG, MAX_URI
from operator_argo.auth.policy import MAX_NONCE_DIGITS, NONCE_TEXT, OPTIONAL_NONCE_TEXT
from operator_argo.auth.signatures import SIGNATURE_TEXT
from operator_argo.config import Settings
from operator_argo.domain.environment import Environment

Schema = dict[str, Any]

PREFIX = "/api/v1/operator"
_REF = "#/components/schemas/"

NO_NUL = r"^[^\x00]*$"
NON_BLANK = r"^[^\x00]*[^\x00\s][^\x00]*$"  # what `str.strip()` leaves something of
OPTIONAL_UNSIGNED = rf"^(\s*[0-9]{{1,{MAX_DIGITS}}}\s*)?$"  # "" counts as absent
FILTER_KEYS = ("agreementId", "jobId", "owner")
AGREEMENT_IN_USE = "`agreementId` already in use for other job."


def _ref(name: str) -> Schema:
    return {"$ref": _REF + name}


def _text(max_length: int, pattern: str = NO_NUL, **extra: Any) -> Schema:
    return {"type": "string", "maxLength": max_length, "pattern": pattern, **extra}


def _integer(minimum: int, maximum: int, **extra: Any) -> Schema:
    return {"type": "integer", "minimum": minimum, "maximum": maximum, **extra}


_ANY: Schema = {"nullable": True, "description": "any JSON value"}
_ID = _text(MAX_ID, minLength=1)
_URLS: Schema = {
    "nullable": True,
    "anyOf": [
        {"type": "string", "pattern": NO_NUL},
        {"type": "array", "items": {"type": "string", "pattern": NO_NUL}},
    ],
    "description": "one URL, a list of them, or null",
}
_NO_REMOTE: Schema = {
    "type": "object",
    "description": "without txId and serviceId a remote counts as absent",
    "properties": {
        key: {"type": "string", "maxLength": 0, "nullable": True} for key in ("txId", "serviceId")
    },
}


def _remote(name: str) -> Schema:
    return {"nullable": True, "anyOf": [_NO_REMOTE, _ref(name)]}


def _unsigned(**extra: Any) -> Schema:
    """An integer of at most 18 digits, as a JSON integer or a string of digits."""
    return {
        "nullable": True,
        "anyOf": [
            _integer(0, LARGEST),
            {"type": "string", "pattern": OPTIONAL_UNSIGNED},
        ],
        **extra,
    }


def stage_schemas() -> dict[str, Schema]:
    """The components of `workflow.stages[0]`, as `schemas.StageSchema` parses it."""
    return {
        "Workflow": {
            "type": "object",
            "required": ["stages"],
            "properties": {
                "stages": {"type": "array", "minItems": 1, "maxItems": 1, "items": _ref("Stage")}
            },
        },
        "Stage": {
            "type": "object",
            "required": ["input", "algorithm", "compute", "output"],
            "properties": {
                "input": {"type": "array", "items": _ref("Input")},
                "algorithm": _ref("Algorithm"),
                "compute": _ref("Compute"),
                "output": _ref("Output"),
            },
        },
        "Input": {
            "type": "object",
            "description": "without an id, its files land in /data/inputs/<index>",
            "properties": {
                "index": _integer(0, INT32, nullable=True),
                "id": {**_ID, "nullable": True},
                "url": _URLS,
                "remote": _remote("InputRemote"),
            },
        },
        "InputRemote": {
            "type": "object",
            "required": ["txId", "serviceId"],
            "properties": {"txId": _ID, "serviceId": _ID, "userdata": _ANY},
        },
        "Algorithm": {
            "type": "object",
            "required": ["container"],
            "properties": {
                "id": _text(MAX_ID, nullable=True),
                "rawcode": {"type": "string", "pattern": NO_NUL, "nullable": True},
                "url": _URLS,
                "remote": _remote("AlgorithmRemote"),
                "container": _ref("Container"),
                "algocustomdata": _ANY,
                "algouserdata": _ANY,
            },
        },
        "AlgorithmRemote": {
            "type": "object",
            "required": ["txId", "serviceId"],
            "properties": {
                "serviceEndpoint": _text(MAX_URI, nullable=True),
                "txId": _ID,
                "serviceId": _ID,
                "userData": _ANY,
            },
        },
        "Container": {
            "type": "object",
            "required": ["entrypoint", "image"],
            "properties": {
                "entrypoint": _text(MAX_URI),
                "image": _ID,
                "tag": _text(MAX_TAG),
                "checksum": _text(MAX_TAG),
            },
        },
        "Compute": {
            "type": "object",
            "description": "advisory",
            "properties": {
                "Instances": _integer(1, INT32),
                "namespace": _text(MAX_URI, nullable=True),
                "maxtime": _integer(0, INT32, nullable=True),
            },
        },
        "Output": {
            "type": "object",
            "properties": {"metadataUri": _text(MAX_URI, nullable=True)},
        },
    }


def _signature(settings: Settings) -> Schema:
    if settings.signature_required:
        return {
            "type": "string",
            "pattern": SIGNATURE_TEXT,
            "description": "65 bytes of hex, r||s||v (v 0, 1, 27 or 28)",
        }
    return {
        "anyOf": [{"type": t} for t in ("string", "number", "boolean", "object", "array")],
        "description": "not checked: SIGNATURE_REQUIRED=0",
    }


def _chain_choice(env: Environment) -> Schema:
    """The environment `env` with a chainId it accepts (absent, null or "" included)."""
    branch: Schema = {"properties": {"environment": {"enum": [env.id]}}}
    if env.allowed_chain_ids is not None:
        chains = sorted(set(env.allowed_chain_ids))
        spelled = "|".join(f"0{{0,{MAX_DIGITS - len(str(c))}}}{c}" for c in chains)
        branch["properties"]["chainId"] = {
            "nullable": True,
            "anyOf": [
                {"type": "integer", "enum": chains},
                {"type": "string", "pattern": rf"^(\s*({spelled})\s*)?$"},
            ],
        }
    return branch


def start_request(settings: Settings) -> Schema:
    """The body of POST /compute."""
    required = ["workflow", "agreementId", "owner", "providerSignature", "environment", "nonce"]
    return {
        "type": "object",
        "required": required,
        "description": f"An agreementId used by an unfinished job is a 400 ({AGREEMENT_IN_USE})",
        "properties": {
            "workflow": _ref("Workflow"),
            "agreementId": _text(MAX_TEXT, NON_BLANK),
            "owner": _text(MAX_TEXT, NON_BLANK),
            "providerSignature": _signature(settings),
            "environment": {"type": "string", "enum": [env.id for env in settings.environments]},
            "nonce": {
                "anyOf": [
                    _integer(0, 10**MAX_NONCE_DIGITS - 1),
                    {"type": "string", "pattern": NONCE_TEXT},
                ],
                "description": "used once per signer; may have 19 digits",
            },
            "chainId": _unsigned(),
            "providerAddress": _text(MAX_TEXT, nullable=True),
            "validUntil": {
                "nullable": True,
                "anyOf": [
                    {"type": "number", "multipleOf": 1, "minimum": 0, "maximum": LARGEST},
                    {"type": "string", "pattern": OPTIONAL_UNSIGNED},
                ],
                "description": "unix seconds",
            },
        },
        "anyOf": [_chain_choice(env) for env in settings.environments],
    }


def _signed_fields(settings: Settings) -> Schema:
    signature = _signature(settings)
    if not settings.signature_required:
        signature = {"type": "string", "description": signature["description"]}
    return {
        "providerSignature": signature,
        "nonce": {"type": "string", "pattern": OPTIONAL_NONCE_TEXT},
    }


def _filter_parameter(settings: Settings) -> Schema:
    """GET/PUT/DELETE /compute: one of agreementId, jobId, owner with 2+ characters."""
    return {
        "in": "query",
        "name": "filter",
        "style": "form",
        "explode": True,
        "required": True,
        "description": "values shorter than 2 characters count as absent",
        "schema": {
            "type": "object",
            "properties": {
                **{key: _text(MAX_TEXT) for key in FILTER_KEYS},
                **_signed_fields(settings),
            },
            "anyOf": [
                {"required": [key], "properties": {key: {"minLength": 2}}} for key in FILTER_KEYS
            ],
        },
    }


def _query(name: str, schema: Schema, *, required: bool = False) -> Schema:
    return {"in": "query", "name": name, "required": required, "schema": schema}


def _result_parameters(settings: Settings) -> list[Schema]:
    signed = _signed_fields(settings)
    return [
        _query("jobId", _text(MAX_TEXT, NON_BLANK), required=True),
        _query("owner", _text(MAX_TEXT, NON_BLANK), required=True),
        _query("index", {"type": "string", "pattern": SIGNED_TEXT}, required=True),
        _query("providerSignature", signed["providerSignature"]),
        _query("nonce", signed["nonce"]),
        _query("consumerSignature", {"type": "string", "description": "ignored"}),
    ]


def _error(description: str) -> Schema:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }


_COMMON_ERRORS = {
    "400": _error("bad input"),
    "408": _error("the body did not arrive within OPERATOR_BODY_TIMEOUT"),
    "413": _error("the body is larger than OPERATOR_MAX_BODY_BYTES"),
    "503": _error("the database is not reachable (Retry-After says when to try again)"),
}
_SIGNED_ERRORS = {"401": _error("signature or nonce refused")}


def describe_requests(spec: Schema, settings: Settings) -> None:
    """Complete the generated document `spec` in place with the request side."""
    spec["components"]["schemas"].update(stage_schemas())
    spec["components"]["schemas"]["StartRequest"] = start_request(settings)
    compute = f"{PREFIX}/compute"
    body = {"required": True, "content": {"application/json": {"schema": _ref("StartRequest")}}}
    requests: dict[tuple[str, str], Schema] = {
        (compute, "post"): {"requestBody": body},
        **{
            (compute, m): {"parameters": [_filter_parameter(settings)]}
            for m in ("get", "put", "delete")
        },
        (f"{PREFIX}/getResult", "get"): {"parameters": _result_parameters(settings)},
        (f"{PREFIX}/environments", "get"): {
            "parameters": [_query("chainId", {"type": "string", "pattern": OPTIONAL_UNSIGNED})]
        },
        (f"{PREFIX}/pgsqlinit", "post"): {
            "parameters": [
                {
                    "in": "header",
                    "name": "Admin",
                    "required": True,
                    "schema": {"type": "string", "pattern": r"\S"},
                    "description": "an address listed in ALLOWED_ADMINS",
                }
            ]
        },
    }
    file = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    responses: dict[tuple[str, str], Schema] = {
        (compute, "delete"): {
            "200": {
                "description": 'the jobs are stopped, their results deleted: ""',
                "content": {"application/json": {"schema": {"type": "string"}}},
            }
        },
        (f"{PREFIX}/getResult", "get"): {
            "200": {"description": "the file", "content": file},
            "206": {"description": "the requested slice", "content": file},
        },
    }
    signed = {(compute, m) for m in ("post", "get", "put", "delete")}
    signed.add((f"{PREFIX}/getResult", "get"))
    for path, operations in spec["paths"].items():
        if not path.startswith(PREFIX):
            continue
        for method, operation in operations.items():
            operation.update(requests.get((path, method), {}))
            operation["responses"].update(responses.get((path, method), {}))
            errors = _COMMON_ERRORS | (_SIGNED_ERRORS if (path, method) in signed else {})
            for status, response in errors.items():
                operation["responses"].setdefault(status, response)
