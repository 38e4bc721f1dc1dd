"""Handlers of /compute, /runningjobs and /environments: parse, call the service, render."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp_apigami import docs, response_schema

from operator_argo.api.body import read_params
from operator_argo.api.docs import EnvironmentSchema, RunningJobSchema, StatusSchema
from operator_argo.api.middlewares import REQUEST_ID_HEADER, current_request_id
from operator_argo.api.render import environment_object, status_object
from operator_argo.config import Settings
from operator_argo.domain.job import Job
from operator_argo.service.jobs import JobService
from operator_argo.wire.shapes import (
    FilterRequest,
    parse_chain,
    parse_filter,
    parse_page,
    parse_start,
)


def _statuses(jobs: list[Job]) -> web.Response:
    return web.json_response([status_object(job) for job in jobs])


async def _stream_array(
    request: web.Request, chunks: AsyncIterator[str], write_timeout: float
) -> web.StreamResponse:
    """A JSON array sent as it is read: `chunks` are runs of its elements joined by commas.
    A client that takes longer than `write_timeout` to take in one chunk is cut off."""
    response = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    request_id = current_request_id()
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
    await response.prepare(request)
    opening = b"["
    async for chunk in chunks:
        async with asyncio.timeout(write_timeout):
            await response.write(opening + chunk.encode())
        opening = b","
    await response.write(b"[]" if opening == b"[" else b"]")
    await response.write_eof()
    return response


class ComputeRoutes:
    """The job routes, bound to one service."""

    def __init__(self, settings: Settings, service: JobService) -> None:
        self._settings = settings
        self._service = service

    def add_to(self, app: web.Application, prefix: str) -> None:
        app.router.add_post(f"{prefix}/compute", self.start)
        app.router.add_get(f"{prefix}/compute", self.status, allow_head=False)
        app.router.add_put(f"{prefix}/compute", self.stop)
        app.router.add_delete(f"{prefix}/compute", self.delete)
        app.router.add_get(f"{prefix}/runningjobs", self.running_jobs, allow_head=False)
        app.router.add_get(f"{prefix}/environments", self.environments, allow_head=False)

    @docs(tags=["compute"], summary="Start a job")
    @response_schema(StatusSchema(many=True), 200, description="the queued job (status 1)")
    async def start(self, request: web.Request) -> web.Response:
        job = await self._service.start(parse_start(await read_params(request)))
        return _statuses([job])

    async def _filter(self, request: web.Request) -> FilterRequest:
        return parse_filter(await read_params(request))

    @docs(tags=["compute"], summary="Job statuses")
    @response_schema(StatusSchema(many=True), 200)
    async def status(self, request: web.Request) -> web.Response:
        return _statuses(await self._service.status(await self._filter(request)))

    @docs(tags=["compute"], summary="Stop jobs (a queued job finishes at once)")
    @response_schema(StatusSchema(many=True), 200)
    async def stop(self, request: web.Request) -> web.Response:
        return _statuses(await self._service.stop(await self._filter(request)))

    @docs(tags=["compute"], summary="Stop jobs, delete their results, mark them removed")
    async def delete(self, request: web.Request) -> web.Response:
        await self._service.delete(await self._filter(request))
        return web.json_response("")

    @docs(tags=["compute"], summary="Jobs neither finished nor removed, oldest first")
    @response_schema(RunningJobSchema(many=True), 200)
    async def running_jobs(self, request: web.Request) -> web.StreamResponse:
        async with self._service.running_jobs(parse_page(request.query)) as chunks:
            return await _stream_array(request, chunks, self._settings.body_timeout)

    @docs(tags=["environments"], summary="Compute environments")
    @response_schema(EnvironmentSchema(many=True), 200)
    async def environments(self, request: web.Request) -> web.Response:
        states = await self._service.environments(parse_chain(request.query))
        return web.json_response([environment_object(s, self._settings) for s in states])
