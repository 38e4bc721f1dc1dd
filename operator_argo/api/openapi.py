"""The request side of the OpenAPI document: every constraint the parsers enforce and every
status the routes answer, so that a request the document calls valid is never refused with a
400, and one it calls invalid is never accepted.

Each route's parameters come from its declared shape (wire/shapes.py) and the workflow's schemas
from the stage's declarations (wire/stage_schema.py), the same declarations the parsers walk.
What the server's settings decide is added here: the environments (the chains each accepts, and
the URLs of an environment that refuses local addresses) and whether signatures are checked at
all. Two rules have no schema form and are stated in words: an agreementId already used by an
unfinished job is a 400 (the contract's), and so is a validUntil already past (preflight).
Responses are documented by the handlers' decorators (docs.py); this adds the errors.
"""

from __future__ import annotations

from operator_argo.config import Settings
from operator_argo.domain.environment import Environment
from operator_argo.domain.messages import AGREEMENT_IN_USE
from operator_argo.wire.preflight import VALID_UNTIL_PAST, url_overlay
from operator_argo.wire.shapes import (
    CHAIN,
    FILTER,
    FILTER_KEYS,
    LOGS,
    MIN_FILTER_LENGTH,
    PAGE,
    RESULT,
    START,
    Param,
    Shape,
)
from operator_argo.wire.stage_schema import COMPONENTS, stage_schemas
from operator_argo.wire.values import MAX_DIGITS, Schema

PREFIX = "/api/v1/operator"
_UNCHECKED = "not checked: SIGNATURE_REQUIRED=0"


def _ref(name: str) -> Schema:
    return {"$ref": COMPONENTS + name}


def _signature(param: Param, settings: Settings, *, in_query: bool) -> Schema:
    """The signature as the server checks it: not at all unless signatures are required."""
    if settings.signature_required:
        return param.schema(in_query=in_query)
    if in_query:
        return {"type": "string", "description": _UNCHECKED}
    anything = [{"type": t} for t in ("string", "number", "boolean", "object", "array")]
    return {"anyOf": anything, "description": _UNCHECKED}


def _schemas(shape: Shape, settings: Settings, *, in_query: bool) -> dict[str, Schema]:
    """Each parameter's schema, the signature as the settings have it."""
    return {
        p.name: _signature(p, settings, in_query=in_query)
        if p.name == "providerSignature"
        else p.schema(in_query=in_query)
        for p in shape
    }


def _chain_choice(env: Environment) -> Schema:
    """The environment `env` with a chainId it accepts (absent, null or "" included), and for
    one that refuses local addresses, URLs that name none."""
    branch: Schema = {"properties": {"environment": {"enum": [env.id]}}}
    if env.refuse_local_urls:
        branch["properties"]["workflow"] = url_overlay()
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
    properties = _schemas(START, settings, in_query=False)
    properties["environment"] = {"type": "string", "enum": [e.id for e in settings.environments]}
    return {
        "type": "object",
        "required": [p.name for p in START if p.required],
        "description": (
            f"An agreementId used by an unfinished job is a 400 ({AGREEMENT_IN_USE}), and so "
            f"is a validUntil that is not in the future ({VALID_UNTIL_PAST}). Preflight: what "
            "cannot work is refused with a 400 before it is queued; each rule is stated where "
            "it applies (the image, tag and checksum, the entrypoint, the algorithm's and each "
            "input's sources, http(s) URLs, one instance, and in environments that say so, no "
            "loopback, link-local or metadata address)"
        ),
        "properties": properties,
        "anyOf": [_chain_choice(env) for env in settings.environments],
    }


def _filter_parameter(settings: Settings) -> Schema:
    """GET/PUT/DELETE /compute: one of agreementId, jobId, owner with 2+ characters."""
    length = {"minLength": MIN_FILTER_LENGTH}
    return {
        "in": "query",
        "name": "filter",
        "style": "form",
        "explode": True,
        "required": True,
        "description": f"values shorter than {MIN_FILTER_LENGTH} characters count as absent",
        "schema": {
            "type": "object",
            "properties": _schemas(FILTER, settings, in_query=True),
            "anyOf": [{"required": [key], "properties": {key: length}} for key in FILTER_KEYS],
        },
    }


def _query_parameters(shape: Shape, settings: Settings) -> list[Schema]:
    schemas = _schemas(shape, settings, in_query=True)
    return [
        {"in": "query", "name": p.name, "required": p.required, "schema": schemas[p.name]}
        for p in shape
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
        (f"{PREFIX}/getResult", "get"): {"parameters": _query_parameters(RESULT, settings)},
        (f"{PREFIX}/computeLogs", "get"): {"parameters": _query_parameters(LOGS, settings)},
        (f"{PREFIX}/environments", "get"): {"parameters": _query_parameters(CHAIN, settings)},
        (f"{PREFIX}/runningjobs", "get"): {"parameters": _query_parameters(PAGE, settings)},
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
        (f"{PREFIX}/computeLogs", "get"): {
            "200": {
                "description": "the algorithm's output, chunked, until the algorithm ends",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
        },
    }
    signed = {(compute, m) for m in ("post", "get", "put", "delete")}
    signed |= {(f"{PREFIX}/getResult", "get"), (f"{PREFIX}/computeLogs", "get")}
    for path, operations in spec["paths"].items():
        if not path.startswith(PREFIX):
            continue
        for method, operation in operations.items():
            operation.update(requests.get((path, method), {}))
            operation["responses"].update(responses.get((path, method), {}))
            errors = _COMMON_ERRORS | (_SIGNED_ERRORS if (path, method) in signed else {})
            for status, response in errors.items():
                operation["responses"].setdefault(status, response)
