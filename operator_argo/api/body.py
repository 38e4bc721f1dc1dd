"""Request input: bounded bodies, a nesting check before JSON parsing, and the input rule.

The input rule of every public handler: parameters come from the query string when it is not
empty, otherwise from the JSON body. Bodies are bounded twice before `json.loads` sees them: by
size (413) and by bracket nesting depth outside strings (400), because a deeply nested document
can exhaust the C stack of the JSON decoder when the interpreter's recursion limit is high.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import operator
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from operator_argo.domain.errors import InvalidRequest

MAX_BODY_KEY: web.AppKey[int] = web.AppKey("max_body_bytes", int)
MAX_DEPTH_KEY: web.AppKey[int] = web.AppKey("max_json_depth", int)
BODY_TIMEOUT_KEY: web.AppKey[float] = web.AppKey("body_timeout", float)

# A JSON string, or an unterminated one up to the end: every quote that starts a match ends one,
# so the scan is linear whatever the input.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
# Openers count 2 and closers 0, so the running sum minus the position is the nesting depth.
_BRACKET_WEIGHTS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_depth(body: bytes) -> int:
    """The deepest bracket nesting of `body`, ignoring brackets inside JSON strings.

    Up to the first syntax error this equals the JSON decoder's own nesting, so a decoder never
    goes deeper than this number (unbalanced closers only make the body invalid sooner)."""
    brackets = _STRING.sub(b"", body).translate(_BRACKET_WEIGHTS, _NOT_BRACKETS)
    if not brackets:
        return 0
    running = itertools.accumulate(brackets)
    depth: int = max(map(operator.sub, running, range(1, len(brackets) + 1)))
    return max(depth, 0)


@web.middleware
async def body_limits_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse oversized (413), too slowly sent (408) and too deeply nested (400) bodies before
    any handler runs."""
    if request.body_exists:
        limit = request.app[MAX_BODY_KEY]
        if request.content_length is not None and request.content_length > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
        try:
            async with asyncio.timeout(request.app[BODY_TIMEOUT_KEY]):
                body = await request.read()  # aiohttp caches it for the handler
        except TimeoutError:
            return await _too_slow(request)
        if json_depth(body) > request.app[MAX_DEPTH_KEY]:
            raise InvalidRequest("payload is nested too deeply")
    return await handler(request)


async def _too_slow(request: web.Request) -> web.StreamResponse:
    """A 408, sent now, and the connection closed: the rest of the body is not waited for."""
    response = web.json_response({"error": "request body not received in time"}, status=408)
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    if request.transport is not None:
        request.transport.close()
    return response


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("number out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object; None when it is empty; InvalidRequest for anything else."""
    if not body.strip():
        return None
    try:
        value = json.loads(body, parse_float=_finite_float, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # also Unicode errors and over-long integers
        raise InvalidRequest("payload is not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidRequest("payload must be a JSON object")
    return value


async def read_params(request: web.Request) -> dict[str, Any]:
    """The call's parameters by the input rule: the query string if it is not empty (values are
    strings; a repeated key keeps its first value), else the JSON body ({} when empty)."""
    if request.query_string:
        return {key: request.query[key] for key in request.query}
    if not request.body_exists:
        return {}
    return parse_json_object(await request.read()) or {}
