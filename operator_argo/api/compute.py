"""Handlers of /compute, /runningjobs and /environments: parse, call the service, render."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apigami import docs, response_schema

from operator_argo.api.body import read_params
from operator_argo.api.docs import EnvironmentSchema, RunningJobSchema, StatusSchema
from operator_argo.api.render import environment_object, running_job_object, status_object
from operator_argo.config import Settings
from operator_argo.domain.job import Job
from operator_argo.service.jobs import JobService
from operator_argo.wire.shapes import FilterRequest, parse_chain, parse_filter, parse_start


def _statuses(jobs: list[Job]) -> web.Response:
    return web.json_response([status_object(job) for job in jobs])


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

    @docs(tags=["compute"], summary="Jobs neither finished nor removed")
    @response_schema(RunningJobSchema(many=True), 200)
    async def running_jobs(self, request: web.Request) -> web.Response:
        jobs = await self._service.running_jobs()
        return web.json_response([running_job_object(job, self._namespace(job)) for job in jobs])

    def _namespace(self, job: Job) -> str:
        env = self._settings.environment(job.environment)
        return env.namespace if env is not None else job.environment

    @docs(tags=["environments"], summary="Compute environments")
    @response_schema(EnvironmentSchema(many=True), 200)
    async def environments(self, request: web.Request) -> web.Response:
        states = await self._service.environments(parse_chain(request.query))
        return web.json_response([environment_object(s, self._settings) for s in states])
