"""The OpenAPI document says exactly what the parsers accept: for every parameter of every route,
and for every field of the workflow's stage, a corpus of awkward values is accepted by the parser
if and only if the document's schema for it validates it (and the document lists each route's
parameters as its shape declares them). schemathesis checks the whole server against the same
document (tests/integration/api/test_api_schemathesis.py); this pins each rule on its own.

Not in the corpus: a lone surrogate in a string, which PostgreSQL cannot store and the parsers
refuse but a JSON schema pattern cannot describe portably.
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp_apigami.constants import SWAGGER_DICT
from jsonschema import Draft4Validator
from marshmallow import Schema as Marshmallow
from marshmallow import fields

from operator_argo.api import create_api
from operator_argo.config import Settings
from operator_argo.domain.environment import Environment
from operator_argo.domain.errors import InvalidRequest
from operator_argo.wire.shapes import CHAIN, FILTER, PAGE, RESULT, START, Param, Shape
from operator_argo.wire.stage import StageSchema, parse_workflow
from operator_argo.wire.stage_schema import COMPONENTS, stage_schemas
from operator_argo.wire.values import SIGNATURE_TEXT, Json, Signature, decode_signature

Schema = dict[str, Any]

TEXTS = [
    "",
    " ",
    "\t\n",
    "a",
    "ab",
    " a ",
    "a\x00b",
    "x" * 1024,
    "x" * 1025,
    "é漢字",
]
NUMBER_TEXTS = [
    "0",
    "7",
    " 7 ",
    "007",
    "-7",
    "- 7",
    "+7",
    "1.5",
    "1e3",
    "١٢",  # digits, but not ASCII ones
    "9" * 18,
    "9" * 19,
    "-" + "9" * 18,
    "0" * 30 + "1",
    "9" * 78,
    "9" * 79,
    "12 34",
]
QUERY_VALUES = TEXTS + NUMBER_TEXTS
BODY_VALUES: list[Any] = [
    *QUERY_VALUES,
    None,
    True,
    False,
    0,
    1,
    -1,
    10**18 - 1,
    10**18,
    -(10**18) + 1,
    -(10**18),
    2**63,
    10**78 - 1,
    10**78,
    1.0,
    1.5,
    -2.0,
    1.7e9,
    1e30,
    [],
    ["a"],
    {},
    {"a": 1},
]
STAGE_VALUES: list[Any] = [
    *TEXTS,
    "x" * 257,
    "x" * 4096,
    "x" * 4097,
    None,
    True,
    0,
    1,
    -1,
    2**31 - 1,
    2**31,
    1.0,
    1.5,
    [],
    ["u"],
    ["u", 5],
    ["a\x00"],
    [{}],
    {},
    {"txId": "t", "serviceId": "s"},
    {"txId": "", "serviceId": None},
    {"userdata": {}},
    {"txId": "t"},
    {"txId": 5},
    {"entrypoint": "e", "image": "i"},
    # the preflight rules' edges: images, tags, digests and URLs
    "http://a/1",
    "HTTPS://A",
    "ftp://a/1",
    "http://",
    "python:3.11",
    "Python",
    "registry:5000/org/algo",
    "sha256:" + "a" * 64,
    "v1.0-rc",
    "-x",
    ["http://a", "ftp://b"],
    ["http://127.0.0.1/x"],
]


def json_schema(schema: Any, components: dict[str, Schema]) -> Any:
    """An OpenAPI 3.0 schema as plain JSON Schema (draft 4): refs inlined, nullable spelled."""
    if isinstance(schema, list):
        return [json_schema(item, components) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return json_schema(components[schema["$ref"].removeprefix(COMPONENTS)], components)
    converted = {k: json_schema(v, components) for k, v in schema.items() if k != "nullable"}
    if schema.get("nullable"):
        return {"anyOf": [{"type": "null"}, converted]}
    return converted


def valid(schema: Schema, value: Any, components: dict[str, Schema] | None = None) -> bool:
    return Draft4Validator(json_schema(schema, components or {})).is_valid(value)


def parses(param: Param, value: Any) -> bool:
    try:
        param.parse({param.name: value})
    except InvalidRequest:
        return False
    return True


def checked(shape: Shape) -> list[Param]:
    """The parameters whose value the wire itself parses (others are passed on as sent)."""
    return [p for p in shape if not isinstance(p.kind, Json | Signature)]


ROUTES = {
    "start": START,
    "filter": FILTER,
    "result": RESULT,
    "environments": CHAIN,
    "runningjobs": PAGE,
}
PARAMS = [
    pytest.param(param, id=f"{route}.{param.name}")
    for route, shape in ROUTES.items()
    for param in checked(shape)
]


@pytest.mark.parametrize("param", PARAMS)
def test_a_query_value_parses_exactly_when_the_document_allows_it(param: Param) -> None:
    schema = param.schema(in_query=True)
    disagree = [v for v in QUERY_VALUES if parses(param, v) != valid(schema, v)]
    assert disagree == [], f"{param.name}: parser and document disagree on {disagree!r}"


@pytest.mark.parametrize("param", PARAMS)
def test_a_body_value_parses_exactly_when_the_document_allows_it(param: Param) -> None:
    schema = param.schema(in_query=False)
    disagree = [v for v in BODY_VALUES if parses(param, v) != valid(schema, v)]
    assert disagree == [], f"{param.name}: parser and document disagree on {disagree!r}"


@pytest.mark.parametrize(
    "value",
    [
        "11" * 64 + "1b",
        "0x" + "11" * 64 + "00",
        "\t0x" + "Ab" * 64 + "1C\n",
        "0X" + "11" * 64 + "01",
        "11" * 64 + "02",
        "11" * 65,
        "11" * 63 + "1b",
        "zz" * 65,
        "",
        5,
        None,
    ],
)
def test_a_signature_decodes_exactly_when_the_document_allows_it(value: Any) -> None:
    try:
        decode_signature(value)
        decodes = True
    except InvalidRequest:
        decodes = False
    pattern = Signature().schema(in_query=False, required=True)
    assert pattern["pattern"] == SIGNATURE_TEXT
    assert decodes == valid(pattern, value)


def served_document(signatures: bool) -> Schema:
    environments = (
        Environment(id="ocean-compute", namespace="ocean-compute"),
        Environment(id="gpu", namespace="gpu", allowed_chain_ids=(137,)),
    )
    settings = Settings(signature_required=signatures, environments=environments)

    async def ready() -> None:
        """Never called: the document is read without serving."""

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        app = create_api(settings, None, ready=ready)  # type: ignore[arg-type]
        document: Schema = app[SWAGGER_DICT]
    return document


def _declared(shape: Shape) -> dict[str, bool]:
    return {p.name: p.required for p in shape}


@pytest.mark.parametrize("signatures", [False, True])
def test_the_document_lists_each_route_s_parameters_as_its_shape_declares_them(
    signatures: bool,
) -> None:
    paths = served_document(signatures)["paths"]
    start = served_document(signatures)["components"]["schemas"]["StartRequest"]
    assert set(start["properties"]) == set(_declared(START))
    assert set(start["required"]) == {n for n, required in _declared(START).items() if required}
    compute = "/api/v1/operator/compute"
    for method in ("get", "put", "delete"):
        (filter_param,) = paths[compute][method]["parameters"]
        assert set(filter_param["schema"]["properties"]) == set(_declared(FILTER))
    for path, shape in (("getResult", RESULT), ("environments", CHAIN), ("runningjobs", PAGE)):
        parameters = paths[f"/api/v1/operator/{path}"]["get"]["parameters"]
        assert {p["name"]: p["required"] for p in parameters} == _declared(shape)


VALID_STAGE: Schema = {
    "input": [
        {
            "index": 0,
            "id": "did:op:1",
            "url": ["http://a/1"],
            "remote": {"txId": "t", "serviceId": "s", "userdata": {}},
        }
    ],
    "algorithm": {
        "id": "did:op:2",
        "rawcode": "print(1)",
        "url": ["http://b/1"],
        "remote": {"serviceEndpoint": "http://p", "txId": "t", "serviceId": "s", "userData": {}},
        "container": {
            "entrypoint": "python $ALGO",
            "image": "img",
            "tag": "1",
            "checksum": "sha256:" + "0" * 64,
        },
        "algocustomdata": {"a": 1},
        "algouserdata": None,
    },
    "compute": {"Instances": 1, "namespace": "ns", "maxtime": 3600},
    "output": {"metadataUri": "http://m"},
}


def stage_paths(
    schema: type[Marshmallow], data: Any, path: tuple[Any, ...] = ()
) -> Iterator[tuple[Any, ...]]:
    """The path in VALID_STAGE of every field the stage's schemas declare."""
    for name, field in schema().fields.items():
        key = field.data_key or name
        yield (*path, key)
        inner, value = field, data.get(key)
        if isinstance(field, fields.List) and isinstance(value, list) and value:
            inner, value, key = field.inner, value[0], (key, 0)
        if isinstance(inner, fields.Nested) and isinstance(value, dict):
            keys = key if isinstance(key, tuple) else (key,)
            yield from stage_paths(type(inner.schema), value, (*path, *keys))


def _with(stage: Schema, path: tuple[Any, ...], value: Any, *, remove: bool = False) -> Schema:
    changed = copy.deepcopy(stage)
    where: Any = changed
    for key in path[:-1]:
        where = where[key]
    if remove:
        del where[path[-1]]
    else:
        where[path[-1]] = value
    return changed


def stage_parses(stage: Schema) -> bool:
    try:
        parse_workflow({"stages": [stage]})
    except InvalidRequest:
        return False
    return True


STAGE_PATHS = list(stage_paths(StageSchema, VALID_STAGE))


def test_every_field_of_the_stage_is_reached() -> None:
    declared = {k for s in stage_schemas().values() for k in s.get("properties", {})}
    reached = {p[-1] for p in STAGE_PATHS} | {"stages"}
    assert reached == declared


@pytest.mark.parametrize("path", STAGE_PATHS, ids=lambda p: ".".join(map(str, p)))
def test_a_stage_field_parses_exactly_when_the_document_allows_it(path: tuple[Any, ...]) -> None:
    components = stage_schemas()
    workflow = components["Workflow"]
    assert stage_parses(VALID_STAGE) and valid(workflow, {"stages": [VALID_STAGE]}, components)
    variants = [(repr(v), _with(VALID_STAGE, path, v)) for v in STAGE_VALUES]
    variants.append(("absent", _with(VALID_STAGE, path, None, remove=True)))
    disagree = [
        label
        for label, stage in variants
        if stage_parses(stage) != valid(workflow, {"stages": [stage]}, components)
    ]
    assert disagree == [], f"{'.'.join(map(str, path))}: parser and document disagree on {disagree}"


@pytest.mark.parametrize(
    "workflow",
    [None, [], {}, {"stages": None}, {"stages": []}, {"stages": [{}]}, {"stages": [1]}],
    ids=repr,
)
def test_a_malformed_workflow_is_refused_by_both(workflow: Any) -> None:
    components = stage_schemas()
    assert not valid(components["Workflow"], workflow, components)
    with pytest.raises(InvalidRequest):
        parse_workflow(workflow)


def test_two_stages_are_refused_by_both() -> None:
    components = stage_schemas()
    workflow = {"stages": [VALID_STAGE, VALID_STAGE]}
    assert not valid(components["Workflow"], workflow, components)
    with pytest.raises(InvalidRequest, match=re.escape("Multiple stages are not supported yet")):
        parse_workflow(workflow)
