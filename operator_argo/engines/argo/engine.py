"""ArgoEngine: runs jobs as Argo Workflows through the Kubernetes API and reports on them."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

import structlog

from operator_argo.config import Settings
from operator_argo.domain.cancellation import check_cancelled
from operator_argo.domain.environment import Environment
from operator_argo.domain.errors import NotFound
from operator_argo.domain.job import Job
from operator_argo.domain.observation import Observation
from operator_argo.engines.argo.builder import build_workflow, workflow_name
from operator_argo.engines.argo.client import AlreadyExists, KubeClient
from operator_argo.engines.argo.status import overdue_observation
from operator_argo.engines.argo.watcher import WorkflowWatcher

log = structlog.get_logger(__name__)

Sink = Callable[[Observation], Awaitable[None]]
STOP_PATCH = {"spec": {"shutdown": "Stop"}}
WATCHDOG_GRACE = 300.0  # seconds past a workflow's activeDeadlineSeconds before we end it


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ArgoEngine:
    """domain.ports.Engine on Argo Workflows: create, stop (shutdown=Stop), delete, watch."""

    def __init__(
        self,
        settings: Settings,
        client: KubeClient,
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
        watchdog_grace: float = WATCHDOG_GRACE,
        watchdog_interval: float | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.clock = clock
        self.watchdog_grace = watchdog_grace
        self.watchdog_interval = watchdog_interval or settings.resync_interval
        self.watchers: list[WorkflowWatcher] = []
        self._overdue_reported: dict[str, str] = {}  # workflow name -> resourceVersion

    @classmethod
    async def from_settings(cls, settings: Settings) -> ArgoEngine:
        """An engine talking to the cluster of `settings` (its kubeconfig, or in-cluster)."""
        return cls(settings, await KubeClient.connect(settings))

    async def close(self) -> None:
        await self.client.close()

    def namespaces(self) -> list[str]:
        """Every namespace a configured environment runs jobs in."""
        found = {env.namespace for env in self.settings.environments}
        return sorted(found or {self.settings.default_namespace})

    def _where(self, job: Job) -> tuple[str, str]:
        environment = self.settings.environment(job.environment)
        namespace = environment.namespace if environment else self.settings.default_namespace
        return namespace, job.workflow_name or workflow_name(job.job_id)

    async def submit(self, job: Job, environment: Environment) -> str:
        """Create the job's workflow; an existing one (a repeated submission) counts as done."""
        body = build_workflow(job, environment, self.settings)
        name = str(body["metadata"]["name"])
        try:
            # The builder's output is plain JSON data (held so by the builder's tests).
            await self.client.submit_workflow(environment.namespace, body)
        except AlreadyExists:
            log.info("workflow_already_exists", job_id=job.job_id, workflow=name)
        else:
            log.info(
                "workflow_submitted",
                job_id=job.job_id,
                workflow=name,
                namespace=environment.namespace,
            )
        return name

    async def stop(self, job: Job) -> None:
        """Shut the workflow down with the Stop strategy, so the exit handler still publishes."""
        namespace, name = self._where(job)
        try:
            await self.client.patch_workflow(namespace, name, STOP_PATCH)
        except NotFound:
            log.info("workflow_stop_missing", job_id=job.job_id, workflow=name)
            return
        log.info("workflow_stop_requested", job_id=job.job_id, workflow=name)

    async def delete(self, job: Job) -> None:
        """Delete the workflow (its pods and volume claim go with it); missing is fine."""
        namespace, name = self._where(job)
        try:
            await self.client.delete_workflow(namespace, name)
        except NotFound:
            return
        log.info("workflow_deleted", job_id=job.job_id, workflow=name)

    async def run(self, sink: Sink) -> None:
        """One watcher per namespace plus the deadline watchdog, until cancelled."""
        self.watchers = [
            WorkflowWatcher(
                self.client, namespace, sink, resync_interval=self.settings.resync_interval
            )
            for namespace in self.namespaces()
        ]
        async with asyncio.TaskGroup() as group:
            for watcher in self.watchers:
                group.create_task(watcher.run(), name=f"argo-watcher-{watcher.namespace}")
            group.create_task(self._watchdog(sink), name="argo-watchdog")

    async def _watchdog(self, sink: Sink) -> None:
        while True:
            check_cancelled()
            await asyncio.sleep(self.watchdog_interval)
            await self.check_deadlines(sink)

    async def check_deadlines(self, sink: Sink) -> list[Observation]:
        """Report, once per workflow version, every workflow Argo left running past its deadline
        (plus grace) as finished, so the reconciler ends the job."""
        now = self.clock()
        reported: list[Observation] = []
        for watcher in self.watchers:
            for obj in list(watcher.objects.values()):
                obs = overdue_observation(obj, now, self.watchdog_grace)
                version = str(obj.get("metadata", {}).get("resourceVersion", ""))
                if obs is None or self._overdue_reported.get(obs.workflow_name) == version:
                    continue
                self._overdue_reported[obs.workflow_name] = version
                log.warning(
                    "workflow_overdue",
                    job_id=obs.job_id,
                    workflow=obs.workflow_name,
                    why=obs.message,
                )
                try:
                    await sink(obs)
                except Exception:
                    log.exception("watchdog_sink_failed", job_id=obs.job_id)
                reported.append(obs)
        return reported
