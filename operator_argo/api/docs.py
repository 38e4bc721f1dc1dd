"""The documented shapes of queries and responses, and the OpenAPI + Swagger UI setup.

The OpenAPI document at /spec is generated at start-up: responses from these schemas
(aiohttp-apigami reads the handlers' decorators), requests and errors from `openapi.py`.
Response bodies are built by `render.py`; tests load every rendered object with these schemas
so the two agree, and a schemathesis run holds the whole document to the server.
"""

from __future__ import annotations

import warnings

from aiohttp import web
from aiohttp_apigami import setup_aiohttp_apispec
from aiohttp_apigami.constants import SWAGGER_DICT
from marshmallow import Schema, fields

from operator_argo import __version__
from operator_argo.api.openapi import describe_requests
from operator_argo.config import Settings

SPEC_PATH = "/spec"
DOCS_PATH = "/api/v1/docs"


class ErrorSchema(Schema):
    error = fields.String(required=True)


class ResultFileSchema(Schema):
    filename = fields.String(required=True)
    filesize = fields.Integer(required=True)
    type = fields.String(required=True)


class TerminationSchema(Schema):
    exitCode = fields.Integer(allow_none=True)  # the wire name
    OOMKilled = fields.Boolean()


class StatusChangeSchema(Schema):
    status = fields.Integer(required=True)
    statusText = fields.String(required=True)
    at = fields.String(required=True, metadata={"description": "epoch seconds"})


class StatusSchema(Schema):
    """A job's status object."""

    agreementId = fields.String(required=True)
    jobId = fields.String(required=True)
    owner = fields.String(required=True)
    status = fields.Integer(required=True)
    statusText = fields.String(required=True)
    dateCreated = fields.String(required=True, metadata={"description": "epoch seconds"})
    dateFinished = fields.String(required=True, allow_none=True)
    results = fields.Raw(
        required=True,
        metadata={"description": '"" until published, then a list of {filename,filesize,type}'},
    )
    stopreq = fields.Integer(required=True, metadata={"description": "0, 1 requested, 2 timeout"})
    removed = fields.Integer(required=True)
    algoDID = fields.String(required=True)
    inputDID = fields.List(fields.String(), required=True)
    terminationDetails = fields.Nested(TerminationSchema, allow_none=True)
    algorithmStartedAt = fields.String(allow_none=True)
    error = fields.String(
        allow_none=True,
        metadata={
            "description": "why a finished job failed or was cut short (which input returned "
            "what, an image that could not be pulled, the time limit, a stop, out of memory); "
            "null while it runs and when it ran through; never a URL, key or secret"
        },
    )
    statusHistory = fields.List(
        fields.Nested(StatusChangeSchema),
        metadata={"description": "every status the job reached, oldest first"},
    )


class RunningJobSchema(Schema):
    agreementId = fields.String(required=True)
    jobId = fields.String(required=True)
    owner = fields.String(required=True)
    status = fields.Integer(required=True)
    statusText = fields.String(required=True)
    dateCreated = fields.String(required=True)
    namespace = fields.String(required=True)
    algoDID = fields.String(required=True)
    inputDID = fields.List(fields.String(), required=True)


class EnvironmentSchema(Schema):
    id = fields.String(required=True)
    cpuNumber = fields.Integer(required=True)
    cpuType = fields.String(required=True)
    gpuNumber = fields.Integer(required=True)
    gpuType = fields.String(required=True)
    ramGB = fields.Integer(required=True)
    diskGB = fields.Integer(required=True)
    priceMin = fields.Float(required=True)
    desc = fields.String(required=True)
    currentJobs = fields.Integer(required=True)
    maxJobs = fields.Integer(required=True)
    consumerAddress = fields.String(required=True)
    storageExpiry = fields.Integer(required=True)
    maxJobDuration = fields.Integer(required=True)
    lastSeen = fields.String(required=True)
    allowedChainId = fields.List(fields.Integer())


class InfoSchema(Schema):
    software = fields.String(required=True)
    version = fields.String(required=True)
    address = fields.String(required=True, allow_none=True)
    algoTimeLimit = fields.String(required=True)
    storageExpiry = fields.String(required=True, allow_none=True)


def setup_openapi(app: web.Application, settings: Settings) -> None:
    """Serve the generated OpenAPI document at /spec and Swagger UI at /api/v1/docs."""
    with warnings.catch_warnings():
        # aiohttp-apigami stores its state under plain string keys; aiohttp warns about that.
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        _setup(app)
        describe_requests(app[SWAGGER_DICT], settings)


def _setup(app: web.Application) -> None:
    setup_aiohttp_apispec(
        app,
        title="operator-argo",
        version=__version__,
        url=SPEC_PATH,
        swagger_path=DOCS_PATH,
        static_path=f"{DOCS_PATH}/static",
        openapi_version="3.0.3",
        in_place=True,
    )
