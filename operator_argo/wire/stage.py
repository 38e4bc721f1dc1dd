"""The one stage of a POST /compute workflow: marshmallow schemas that turn it into domain types,
and from which its OpenAPI schemas are derived (`stage_schema.py`)."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from operator_argo.domain.errors import InvalidRequest
from operator_argo.domain.job import (
    AlgorithmSpec,
    ContainerSpec,
    InputSpec,
    JobSpec,
    RemoteSource,
)
from operator_argo.domain.messages import MULTIPLE_STAGES, missing_in_stage
from operator_argo.wire import preflight
from operator_argo.wire.preflight import Pattern
from operator_argo.wire.values import Schema as JsonSchema
from operator_argo.wire.values import is_storable

MAX_URI = 4096  # entrypoints, URIs, endpoints
MAX_ID = 1024  # ids, images
MAX_TAG = 256  # image tags and checksums
INT32 = 2**31 - 1  # the largest index, instance count or time limit that makes sense
_TEXT = validate.Length(max=MAX_URI)
_ID = validate.Length(min=1, max=MAX_ID)


class _Lenient(Schema):
    DESCRIPTION: ClassVar[str] = ""  # what the document says of the object, if anything
    SOURCES: ClassVar[list[JsonSchema]] = []  # preflight: the object needs one of these (anyOf)

    class Meta:
        unknown = EXCLUDE


NOT_TEXT = "must be text without NUL characters"


class Text(fields.String):
    """A string that is stored: PostgreSQL must be able to hold it (no NUL, no lone surrogate);
    with a `pattern`, one of the preflight rules (preflight.py) it must also match."""

    def __init__(self, *, pattern: Pattern | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pattern = pattern

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        if not is_storable(text):
            raise ValidationError(NOT_TEXT)
        if self.pattern is not None and not self.pattern.matches(text):
            raise ValidationError(self.pattern.message)
        return text


class UrlList(fields.Field):
    """A list of http(s) URLs; a single one, null or "" (none) is accepted too (providers send
    each of them)."""

    DESCRIPTION = 'one http(s) URL, a list of them, or null or "" for none'
    URL = preflight.HTTP_URL

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if value is None or value == "":
            return ()
        urls = [value] if isinstance(value, str) else value
        if not isinstance(urls, list) or not all(isinstance(item, str) for item in urls):
            raise ValidationError("must be a list of URL strings")
        if not all(is_storable(url) for url in urls):
            raise ValidationError(NOT_TEXT)
        if not all(self.URL.matches(url) for url in urls):
            raise ValidationError(self.URL.message)
        return tuple(urls)


class BoundedInteger(fields.Integer):
    """A JSON integer within bounds: never a boolean, a float or a string of digits."""

    def __init__(
        self, *, minimum: int, maximum: int = INT32, error: str | None = None, **kwargs: Any
    ) -> None:
        bounds = validate.Range(min=minimum, max=maximum, error=error)
        super().__init__(strict=True, validate=bounds, **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class RemoteField(fields.Nested):
    """A provider-served asset; one without txId and serviceId counts as absent (ocean-node's
    operator client adds `"remote": {"userdata": {}}` to every raw-code algorithm)."""

    DESCRIPTION = "without txId and serviceId a remote counts as absent"

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, partial: Any = None, **kwargs: Any
    ) -> Any:
        if isinstance(value, dict) and all(value.get(k) in (None, "") for k in REMOTE_KEYS):
            return None
        return super()._deserialize(value, attr, data, partial=partial, **kwargs)


REMOTE_KEYS = ("txId", "serviceId")


class InputRemoteSchema(_Lenient):
    txId = Text(required=True, validate=_ID)  # the wire name
    serviceId = Text(required=True, validate=_ID)
    userdata = fields.Raw(load_default=None, allow_none=True)

    @post_load
    def to_domain(self, data: dict[str, Any], **_: Any) -> RemoteSource:
        return RemoteSource(
            tx_id=data["txId"], service_id=data["serviceId"], user_data=data["userdata"]
        )


class AlgorithmRemoteSchema(_Lenient):
    serviceEndpoint = Text(load_default=None, allow_none=True, validate=_TEXT)
    txId = Text(required=True, validate=_ID)
    serviceId = Text(required=True, validate=_ID)
    userData = fields.Raw(load_default=None, allow_none=True)

    @post_load
    def to_domain(self, data: dict[str, Any], **_: Any) -> RemoteSource:
        return RemoteSource(
            tx_id=data["txId"],
            service_id=data["serviceId"],
            user_data=data["userData"],
            service_endpoint=data["serviceEndpoint"],
        )


class InputSchema(_Lenient):
    """One dataset. Without an `id` (ocean-node sends url inputs so) its folder is named after
    its index."""

    DESCRIPTION = (
        f"without an id, its files land in /data/inputs/<index>; preflight: {preflight.NO_FILES}"
    )
    SOURCES = preflight.INPUT_SOURCES

    index = BoundedInteger(minimum=0, load_default=None, allow_none=True)
    id = Text(load_default=None, allow_none=True, validate=_ID)
    url = UrlList(load_default=(), allow_none=True)
    remote = RemoteField(InputRemoteSchema, load_default=None, allow_none=True)

    @validates_schema
    def has_files(self, data: dict[str, Any], **_: Any) -> None:
        if not preflight.has_input_source(data):
            raise ValidationError(preflight.NO_FILES)


class ContainerSchema(_Lenient):
    entrypoint = Text(required=True, validate=_TEXT, pattern=preflight.ENTRYPOINT)
    image = Text(required=True, validate=_ID, pattern=preflight.IMAGE)
    tag = Text(load_default="latest", validate=validate.Length(max=MAX_TAG), pattern=preflight.TAG)
    checksum = Text(
        load_default="", validate=validate.Length(max=MAX_TAG), pattern=preflight.CHECKSUM
    )

    @post_load
    def to_domain(self, data: dict[str, Any], **_: Any) -> ContainerSpec:
        return ContainerSpec(**data)


class AlgorithmSchema(_Lenient):
    DESCRIPTION = f"preflight: {preflight.NO_SOURCE}"
    SOURCES = preflight.ALGORITHM_SOURCES

    id = Text(load_default=None, allow_none=True, validate=validate.Length(max=MAX_ID))
    rawcode = Text(load_default="", allow_none=True)
    url = UrlList(load_default=(), allow_none=True)
    remote = RemoteField(AlgorithmRemoteSchema, load_default=None, allow_none=True)
    container = fields.Nested(ContainerSchema, required=True)
    algocustomdata = fields.Raw(load_default=None, allow_none=True)
    algouserdata = fields.Raw(load_default=None, allow_none=True)

    @validates_schema
    def has_source(self, data: dict[str, Any], **_: Any) -> None:
        if not preflight.has_algorithm_source(data):
            raise ValidationError(preflight.NO_SOURCE)

    @post_load
    def to_domain(self, data: dict[str, Any], **_: Any) -> AlgorithmSpec:
        # algoDID: `id` when the key is present (maybe ""), otherwise "raw" (did None).
        return AlgorithmSpec(
            did=data["id"],
            container=data["container"],
            rawcode=data["rawcode"] or "",
            urls=data["url"] or (),
            remote=data["remote"],
            custom_data=data["algocustomdata"],
            user_data=data["algouserdata"],
        )


class ComputeSchema(_Lenient):
    """Advisory hints: one instance runs, within the environment's own time limit."""

    DESCRIPTION = "advisory, but for Instances: one instance runs"

    Instances = BoundedInteger(minimum=1, maximum=1, load_default=1, error=preflight.ONE_INSTANCE)
    namespace = Text(load_default=None, allow_none=True, validate=_TEXT)
    maxtime = BoundedInteger(minimum=0, load_default=None, allow_none=True)


class OutputSchema(_Lenient):
    metadataUri = Text(load_default=None, allow_none=True, validate=_TEXT)


class StageSchema(_Lenient):
    """One workflow stage: the datasets, the algorithm, advisory compute hints, the output."""

    input = fields.List(fields.Nested(InputSchema), required=True)
    algorithm = fields.Nested(AlgorithmSchema, required=True)
    compute = fields.Nested(ComputeSchema, required=True)
    output = fields.Nested(OutputSchema, required=True)

    @post_load
    def to_domain(self, data: dict[str, Any], **_: Any) -> JobSpec:
        inputs = tuple(
            InputSpec(
                index=i if item["index"] is None else item["index"],
                did=item["id"],
                urls=item["url"] or (),
                remote=item["remote"],
            )
            for i, item in enumerate(data["input"])
        )
        return JobSpec(
            inputs=inputs, algorithm=data["algorithm"], metadata_uri=data["output"]["metadataUri"]
        )


MAX_STAGES = 1
_STAGE_SCHEMA = StageSchema()
STAGE_KEYS = tuple(name for name, field in _STAGE_SCHEMA.fields.items() if field.required)


def first_error(messages: Any, path: str = "") -> str:
    """The first message of a marshmallow error tree, prefixed with its dotted field path."""
    if isinstance(messages, dict):
        key, value = next(iter(messages.items()))
        if key == "_schema":  # a rule on the object itself: named by the object's path
            return first_error(value, path)
        return first_error(value, f"{path}.{key}" if path else str(key))
    if isinstance(messages, list) and messages:
        return first_error(messages[0], path)
    return f"{path}: {messages}" if path else str(messages)


def parse_workflow(workflow: object) -> JobSpec:
    """The job spec of a `workflow` body field; InvalidRequest with the original's messages."""
    if not isinstance(workflow, dict):
        raise InvalidRequest("workflow must be an object")
    stages = workflow.get("stages")
    if not isinstance(stages, list) or not stages:
        raise InvalidRequest("workflow.stages must be a list with one stage")
    if len(stages) > MAX_STAGES:
        raise InvalidRequest(MULTIPLE_STAGES)
    stage = stages[0]
    if not isinstance(stage, dict):
        raise InvalidRequest("workflow.stages.0 must be an object")
    for key in STAGE_KEYS:
        if stage.get(key) is None:
            raise InvalidRequest(missing_in_stage(key))
    try:
        spec: JobSpec = _STAGE_SCHEMA.load(stage)
    except ValidationError as exc:
        raise InvalidRequest(first_error(exc.messages, "stage 0")) from None
    return spec
