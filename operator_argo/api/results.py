"""GET /getResult: stream one published result file, whole or a byte range, and nothing else.

The response carries the file's bytes and three headers of our own making; nothing from the
storage backend (URLs, keys, API headers) is ever copied into it.
"""

from __future__ import annotations

import mimetypes
import re

import structlog
from aiohttp import web
from aiohttp_apigami import docs

from operator_argo.api.body import read_params
from operator_argo.api.docs import ErrorSchema
from operator_argo.api.middlewares import REQUEST_ID_HEADER, current_request_id
from operator_argo.domain.errors import RangeNotSatisfiable
from operator_argo.observability.metrics import record_result_bytes
from operator_argo.service.jobs import JobService, ResultDownload
from operator_argo.wire.shapes import parse_result

log = structlog.get_logger(__name__)

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")
_UNSAFE_NAME_CHARS = re.compile(r'[\x00-\x1f\x7f";\\]')


def parse_range(header: str, size: int) -> tuple[int, int]:
    """[start, end) of a single `bytes=a-b`, `bytes=a-` or `bytes=-n` range within `size` bytes;
    RangeNotSatisfiable for anything else (several ranges, garbage, outside the file)."""
    match = _RANGE.match(header)
    if match is None or match.group(1) == match.group(2) == "":
        raise RangeNotSatisfiable("Requested range not satisfiable")
    first, last = match.group(1), match.group(2)
    if len(first) > 20 or len(last) > 20:
        raise RangeNotSatisfiable("Requested range not satisfiable")
    if first == "":  # a suffix: the last n bytes
        length = int(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable("Requested range not satisfiable")
        return max(size - length, 0), size
    start = int(first)
    end = size if last == "" else min(int(last) + 1, size)
    if start >= size or end <= start:
        raise RangeNotSatisfiable("Requested range not satisfiable")
    return start, end


def _disposition(filename: str) -> str:
    return f"attachment;filename={_UNSAFE_NAME_CHARS.sub('_', filename)}"


def _content_type(filename: str) -> str:
    if filename.lower().endswith(".log"):  # every job has three logs; mimetypes knows no .log
        return "text/plain"
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or "application/octet-stream"


class ResultRoutes:
    """getResult, bound to one service."""

    def __init__(self, service: JobService) -> None:
        self._service = service

    def add_to(self, app: web.Application, prefix: str) -> None:
        app.router.add_get(f"{prefix}/getResult", self.get_result, allow_head=False)

    @docs(
        tags=["compute"],
        summary="Download one result file (supports a single Range)",
        produces=["application/octet-stream"],
        responses={
            404: {"description": "no such job or index", "schema": ErrorSchema},
            416: {"description": "range outside the file", "schema": ErrorSchema},
        },
    )
    async def get_result(self, request: web.Request) -> web.StreamResponse:
        download = await self._service.result(parse_result(await read_params(request)))
        return await self._stream(request, download)

    async def _stream(self, request: web.Request, download: ResultDownload) -> web.StreamResponse:
        start, end, status = 0, download.size, 200
        header = request.headers.get("Range")
        if header is not None:
            try:
                start, end = parse_range(header, download.size)
            except RangeNotSatisfiable:
                return web.json_response(
                    {"error": "Requested range not satisfiable"},
                    status=416,
                    headers={"Content-Range": f"bytes */{download.size}"},
                )
            status = 206
        response = web.StreamResponse(status=status)
        response.content_type = _content_type(download.file.filename)
        response.headers["Content-Disposition"] = _disposition(download.file.filename)
        response.headers["Accept-Ranges"] = "bytes"
        request_id = current_request_id()
        if request_id is not None:
            response.headers[REQUEST_ID_HEADER] = request_id
        if status == 206:
            response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{download.size}"
        response.content_length = end - start
        await response.prepare(request)
        sent = 0
        try:
            async for chunk in download.read(start, end):
                await response.write(chunk)
                sent += len(chunk)
        except ConnectionResetError:
            log.info("client_disconnected", method=request.method, path=request.path)
            return response
        except Exception as exc:
            # Headers are gone already: the only honest signal left is a cut connection.
            log.warning("result_stream_failed", error=str(exc), error_type=type(exc).__name__)
            if request.transport is not None:
                request.transport.close()
            return response
        finally:
            record_result_bytes(sent)
        await response.write_eof()
        return response
