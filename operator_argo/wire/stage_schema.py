"""The OpenAPI schemas of a workflow and its stage, derived from the marshmallow declarations in
stage.py: each field kind maps to the JSON schema of what it accepts, so the document cannot say
more or less than the parser (tests/unit/wire holds the two equal)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema as Marshmallow
from marshmallow import fields, validate

from operator_argo.wire.stage import (
    MAX_STAGES,
    REMOTE_KEYS,
    BoundedInteger,
    RemoteField,
    StageSchema,
    Text,
    UrlList,
)
from operator_argo.wire.values import NO_NUL, Schema, optional

COMPONENTS = "#/components/schemas/"


def component_name(schema: type[Marshmallow]) -> str:
    """`InputRemoteSchema` is documented as `InputRemote`."""
    return schema.__name__.removesuffix("Schema")


def _ref(schema: type[Marshmallow]) -> Schema:
    return {"$ref": COMPONENTS + component_name(schema)}


def _bounds(field: fields.Field, kind: type[Any]) -> list[Any]:
    return [v for v in field.validators if isinstance(v, kind)]


def _text(field: Text) -> Schema:
    pattern = field.pattern.text if field.pattern is not None else NO_NUL
    schema: Schema = {"type": "string", "pattern": pattern}
    if field.pattern is not None:
        schema["description"] = field.pattern.message
    for length in _bounds(field, validate.Length):
        if length.min is not None:
            schema["minLength"] = length.min
        if length.max is not None:
            schema["maxLength"] = length.max
    return schema


def _integer(field: BoundedInteger) -> Schema:
    (bounds,) = _bounds(field, validate.Range)
    return {"type": "integer", "minimum": bounds.min, "maximum": bounds.max}


def _no_remote() -> Schema:
    empty = {"type": "string", "maxLength": 0, "nullable": True}
    return {
        "type": "object",
        "description": RemoteField.DESCRIPTION,
        "properties": {key: dict(empty) for key in REMOTE_KEYS},
    }


def field_schema(field: fields.Field) -> Schema:
    """What `field` accepts; TypeError for a kind of field this does not know how to state."""
    schema: Schema
    if isinstance(field, RemoteField):
        schema = {"anyOf": [_no_remote(), _ref(type(field.schema))]}
    elif isinstance(field, fields.Nested):
        schema = _ref(type(field.schema))
    elif isinstance(field, fields.List):
        schema = {"type": "array", "items": field_schema(field.inner)}
    elif isinstance(field, UrlList):
        url = {"type": "string", "pattern": field.URL.text}
        schema = {
            "anyOf": [
                {"type": "string", "pattern": optional(field.URL.text)},
                {"type": "array", "items": url},
            ],
            "description": UrlList.DESCRIPTION,
        }
    elif isinstance(field, BoundedInteger):
        schema = _integer(field)
    elif isinstance(field, Text):
        schema = _text(field)
    elif type(field) is fields.Raw:
        schema = {"description": "any JSON value"}
    else:
        raise TypeError(f"no OpenAPI form for {type(field).__name__}")
    if field.allow_none:
        # OpenAPI 3.0 ignores the siblings of a $ref: wrap it to say null is accepted too.
        schema = {"nullable": True, **({"allOf": [schema]} if "$ref" in schema else schema)}
    return schema


def object_schema(schema: type[Marshmallow]) -> Schema:
    """The object `schema` loads: its fields by wire name, the required ones listed."""
    declared = schema().fields
    described: Schema = {"type": "object"}
    if description := getattr(schema, "DESCRIPTION", ""):
        described["description"] = description
    if sources := getattr(schema, "SOURCES", []):
        described["anyOf"] = sources
    required = [f.data_key or name for name, f in declared.items() if f.required]
    if required:
        described["required"] = required
    described["properties"] = {f.data_key or name: field_schema(f) for name, f in declared.items()}
    return described


def _nested(schema: type[Marshmallow]) -> list[type[Marshmallow]]:
    """`schema` and every schema it nests, each once, outermost first."""
    found = [schema]
    for field in schema().fields.values():
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested):
            found += [s for s in _nested(type(inner.schema)) if s not in found]
    return found


def stage_schemas() -> dict[str, Schema]:
    """The components of a POST /compute `workflow`: Workflow, Stage and what Stage nests."""
    workflow: Schema = {
        "type": "object",
        "required": ["stages"],
        "properties": {
            "stages": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_STAGES,
                "items": _ref(StageSchema),
            }
        },
    }
    return {"Workflow": workflow} | {
        component_name(s): object_schema(s) for s in _nested(StageSchema)
    }
