"""GET /computeLogs: the algorithm's output of one job, streamed (chunked) as it is written."""

from __future__ import annotations

import structlog
from aiohttp import web
from aiohttp_apigami import docs

from operator_argo.api.body import read_params
from operator_argo.api.docs import ErrorSchema
from operator_argo.api.middlewares import REQUEST_ID_HEADER, current_request_id
from operator_argo.service.jobs import JobService
from operator_argo.wire.shapes import parse_logs

log = structlog.get_logger(__name__)


class LogRoutes:
    """computeLogs, bound to one service."""

    def __init__(self, service: JobService) -> None:
        self._service = service

    def add_to(self, app: web.Application, prefix: str) -> None:
        app.router.add_get(f"{prefix}/computeLogs", self.compute_logs, allow_head=False)

    @docs(
        tags=["compute"],
        summary="Follow the algorithm's output (stdout and stderr) while it runs",
        description=(
            "A chunked text/plain stream: what the algorithm wrote so far, then what it writes, "
            "ending when the algorithm ends; after the job has finished, its published "
            "algorithmLog. Signed like getResult (owner, then jobId, then the nonce). The "
            "stream ends when the job is deleted."
        ),
        produces=["text/plain"],
        responses={
            404: {"description": "no such job of this owner", "schema": ErrorSchema},
            429: {
                "description": "the owner holds OPERATOR_LOG_STREAMS_PER_OWNER streams already",
                "schema": ErrorSchema,
            },
        },
    )
    async def compute_logs(self, request: web.Request) -> web.StreamResponse:
        async with self._service.logs(parse_logs(await read_params(request))) as chunks:
            response = web.StreamResponse()
            response.content_type = "text/plain"
            response.headers["Cache-Control"] = "no-store"
            response.headers["X-Content-Type-Options"] = "nosniff"
            request_id = current_request_id()
            if request_id is not None:
                response.headers[REQUEST_ID_HEADER] = request_id
            response.enable_chunked_encoding()
            await response.prepare(request)
            try:
                async for chunk in chunks:
                    await response.write(chunk)
            except ConnectionResetError:
                log.info("client_disconnected", method=request.method, path=request.path)
                return response
        await response.write_eof()
        return response
