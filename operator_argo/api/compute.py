"""Handlers of /compute, /runningjobs and /environments: parse, call the service, render."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apigami import docs, response_schema

from operator_argo.api.body import read_params
from operator_argo.api.docs import EnvironmentSchema, RunningJobSchema, StatusSchema
from operator_argo.api.render import environment_object, running_job_object, status_object
from operator_argo.api.requests import FilterFields, parse_filter, parse_integer, parse_start
from operator_argo.api.schemas import parse_workflow
from operator_argo.auth.policy import ProviderAuth
from operator_argo.config import Settings
from operator_argo.domain.job import Job, NewJob
from operator_argo.service.jobs import JobService


def _statuses(jobs: list[Job]) -> web.Response:
    return web.json_response([status_object(job) for job in jobs])


class ComputeRoutes:
    """The job routes, bound to one service and one provider-auth policy."""

    def __init__(self, settings: Settings, service: JobService, auth: ProviderAuth) -> None:
        self._settings = settings
        self._service = service
        self._auth = auth

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
        fields = parse_start(await read_params(request))
        await self._service.check_start(fields.environment, fields.chain_id, fields.agreement_id)
        await self._auth.verify([fields.owner], fields.signature, fields.nonce)
        spec = parse_workflow(fields.workflow)
        job = await self._service.start(
            NewJob(
                job_id=self._service.next_job_id(),
                owner=fields.owner,  # type: ignore[arg-type]
                agreement_id=fields.agreement_id,
                environment=fields.environment,
                spec=spec,
                chain_id=fields.chain_id,
                provider_address=fields.provider_address,
                valid_until=fields.valid_until,
            )
        )
        return _statuses([job])

    async def _filter(self, request: web.Request) -> FilterFields:
        fields = parse_filter(await read_params(request))
        await self._auth.verify([fields.owner, fields.job_id], fields.signature, fields.nonce)
        return fields

    @docs(tags=["compute"], summary="Job statuses")
    @response_schema(StatusSchema(many=True), 200)
    async def status(self, request: web.Request) -> web.Response:
        fields = await self._filter(request)
        return _statuses(await self._service.status(fields.flt))

    @docs(tags=["compute"], summary="Stop jobs (a queued job finishes at once)")
    @response_schema(StatusSchema(many=True), 200)
    async def stop(self, request: web.Request) -> web.Response:
        fields = await self._filter(request)
        return _statuses(await self._service.stop(fields.flt))

    @docs(tags=["compute"], summary="Stop jobs, delete their results, mark them removed")
    async def delete(self, request: web.Request) -> web.Response:
        fields = await self._filter(request)
        await self._service.delete(fields.flt)
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
        chain_id = parse_integer(request.query.get("chainId"), "chainId")
        states = await self._service.environments(chain_id)
        return web.json_response([environment_object(s, self._settings) for s in states])
