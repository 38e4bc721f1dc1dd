"""HTTP middlewares: request ids, request metrics, and errors as JSON `{"error": ...}`.

Order (outermost first): request id -> metrics -> errors -> body limits -> handler, so every
log event of a request carries its id and the metrics see the status the client saw.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import structlog
from aiohttp import web

from operator_argo.api.body import Handler
from operator_argo.domain.errors import OperatorError
from operator_argo.observability.metrics import observe_request

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_INTERNAL_ERROR = "Internal server error"
RETRY_AFTER_SECONDS = "1"
CLIENT_GONE = 499  # what request metrics count when the client hung up first


def _request_id(request: web.Request) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    return incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind a request id (the caller's, if sane, else a new one) to every log event of the
    request and return it in X-Request-Id (streamed responses set it themselves, before their
    headers leave: see `current_request_id`)."""
    request_id = _request_id(request)
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # only raised past the error middleware for 1xx-3xx
            exc.headers[REQUEST_ID_HEADER] = request_id
            raise
        if not response.prepared:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response


def current_request_id() -> str | None:
    """The id of the request being handled (bound by `request_id_middleware`)."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count each request and its latency by route template, method and status."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        observe_request(_route_name(request), request.method, status, time.perf_counter() - started)


def error_response(status: int, message: str) -> web.Response:
    """The contract's error body."""
    return web.json_response({"error": message}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Domain errors -> their status and message; aiohttp's 4xx/5xx -> JSON; anything else ->
    a logged 500 that reveals nothing of the internals."""
    try:
        return await handler(request)
    except OperatorError as exc:
        if exc.http_status >= 500:
            log.warning("request_failed", error=exc.message, error_type=type(exc).__name__)
        response = error_response(exc.http_status, exc.message)
        if exc.http_status == 503:  # a dependency is down for now: say when to try again
            response.headers["Retry-After"] = RETRY_AFTER_SECONDS
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = "payload is too large" if exc.status == 413 else exc.reason
        response = error_response(exc.status, message)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except ConnectionResetError:
        # The client went away (mid-body, say): an ordinary event, nobody reads this answer.
        log.info("client_disconnected", method=request.method, path=request.path)
        return error_response(CLIENT_GONE, "client disconnected")
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("request_crashed", method=request.method, path=request.path)
        return error_response(500, _INTERNAL_ERROR)
