"""ArgoEngine: runs jobs as Argo Workflows through the Kubernetes API and reports on them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence

import structlog

from operator_argo.config import Settings
from operator_argo.domain.cancellation import check_cancelled
from operator_argo.domain.clock import SYSTEM_CLOCK, Clock
from operator_argo.domain.environment import Environment
from operator_argo.domain.errors import NotFound, OperatorError
from operator_argo.domain.job import Job
from operator_argo.domain.names import (
    STEP_LABEL,
    STOP_REASON_ANNOTATION,
    WORKFLOW_LABEL,
    workflow_name,
)
from operator_argo.domain.observation import Observation
from operator_argo.domain.ports import ObservationSink, Takeover
from operator_argo.engines.argo.builder import build_workflow
from operator_argo.engines.argo.builder_env import inert_text
from operator_argo.engines.argo.client import AlreadyExists, KubeClient
from operator_argo.engines.argo.placement import check_placement
from operator_argo.engines.argo.retention import release_patch
from operator_argo.engines.argo.startup import StartWatch, waiting_reason
from operator_argo.engines.argo.status import overdue_observation, parse_workflow
from operator_argo.engines.argo.watcher import WorkflowWatcher
from operator_argo.observability import metrics

log = structlog.get_logger(__name__)

STOP_PATCH = {"spec": {"shutdown": "Stop"}}
MAIN_CONTAINER = "main"  # the container Argo runs a step's own command in


class ArgoEngine:
    """domain.ports.Engine on Argo Workflows: create, stop (shutdown=Stop), delete, watch.

    Take-over after a restart: workflows kept running without us and the watcher's first list
    catches up with them; only a claim whose workflow was never recorded (the operator stopped
    between claim and record) is submitted again, which is idempotent.
    """

    def __init__(
        self,
        settings: Settings,
        client: KubeClient,
        *,
        clock: Clock = SYSTEM_CLOCK,
        watchdog_interval: float | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.clock = clock
        # Often enough to end a job whose algorithm cannot start soon after its grace.
        self.watchdog_interval = watchdog_interval or min(
            settings.resync_interval, max(1.0, settings.start_grace / 4)
        )
        self.watchers: list[WorkflowWatcher] = []
        self._overdue_reported: dict[str, str] = {}  # workflow name -> resourceVersion
        self.start_watch = StartWatch(grace=settings.start_grace)

    @classmethod
    async def from_settings(cls, settings: Settings) -> ArgoEngine:
        """An engine talking to the cluster of `settings` (its kubeconfig, or in-cluster); a
        placement field the Kubernetes models refuse stops start-up first, naming it."""
        check_placement(settings.environments)
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
        body = build_workflow(job, environment, self.settings, now=self.clock.now())
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

    def _algorithm_pods(self, job: Job) -> tuple[str, str]:
        """The namespace and label selector of the job's algorithm pods."""
        namespace, name = self._where(job)
        return namespace, f"{WORKFLOW_LABEL}={name},{STEP_LABEL}=algorithm"

    async def ran_image(self, job: Job) -> str | None:
        """The `imageID` the node's runtime reports for the algorithm pod's main container
        (the image by digest); None once the pod is gone or while the container never began."""
        namespace, selector = self._algorithm_pods(job)
        pods = await self.client.list_pods(namespace, label_selector=selector)
        if not pods:
            return None
        statuses = (pods[-1].get("status") or {}).get("containerStatuses") or ()
        for status in statuses:
            if isinstance(status, Mapping) and status.get("name") == MAIN_CONTAINER:
                return str(status.get("imageID") or "") or None
        return None

    async def follow_log(self, job: Job) -> AsyncIterator[bytes]:
        """The algorithm pod's main container log through the Kubernetes API, followed until
        the container ends; NotFound while there is no such pod (or its container has not
        begun), so the caller looks again later."""
        namespace, selector = self._algorithm_pods(job)
        pods = await self.client.pod_names(namespace, label_selector=selector)
        if not pods:
            raise NotFound(f"no algorithm pod of job {job.job_id} yet")
        async for chunk in self.client.follow_pod_log(
            namespace, pods[-1], container=MAIN_CONTAINER
        ):
            yield chunk

    async def release(self, job: Job) -> None:
        """Hand a finished workflow to Argo's own clean-up (retention.py): a ttlStrategy counted
        from its finish; with no retention configured, delete it now."""
        patch = release_patch(self.settings)
        if patch is None:
            await self.delete(job)
            return
        namespace, name = self._where(job)
        try:
            await self.client.patch_workflow(namespace, name, patch)
        except NotFound:
            return
        log.info("workflow_released", job_id=job.job_id, workflow=name, ttl=patch["spec"])

    async def resume(self, jobs: Sequence[tuple[Job, Environment]]) -> Takeover:
        """Submit again every claim whose workflow was never recorded (see the class docstring).

        A workflow the cluster refuses for good is reported as refused; when the cluster cannot
        be reached, or refuses the operator, the first such error is raised after every other
        submission was tried, and the caller calls again later.
        """
        unrecorded = [(job, env) for job, env in jobs if job.workflow_name is None]
        outcomes = await asyncio.gather(
            *(self.submit(job, env) for job, env in unrecorded), return_exceptions=True
        )
        submitted: dict[str, str] = {}
        refused: dict[str, str] = {}
        retry: OperatorError | None = None
        for (job, _), outcome in zip(unrecorded, outcomes, strict=True):
            if isinstance(outcome, str):
                submitted[job.job_id] = outcome
            elif isinstance(outcome, OperatorError) and not outcome.retryable:
                refused[job.job_id] = outcome.message
            elif isinstance(outcome, OperatorError):
                retry = retry or outcome
            else:
                raise outcome
        if retry is not None:
            raise retry
        return Takeover(submitted=submitted, refused=refused)

    async def watch(self, sink: ObservationSink) -> None:
        """One watcher per namespace plus the deadline watchdog, until cancelled."""
        self.watchers = [
            WorkflowWatcher(
                self.client,
                namespace,
                self._observer(namespace, sink),
                resync_interval=self.settings.resync_interval,
                clock=self.clock,
            )
            for namespace in self.namespaces()
        ]
        async with asyncio.TaskGroup() as group:
            for watcher in self.watchers:
                group.create_task(watcher.run(), name=f"argo-watcher-{watcher.namespace}")
            group.create_task(self._watchdog(sink), name="argo-watchdog")

    def _observer(self, namespace: str, sink: ObservationSink) -> ObservationSink:
        """The watcher's sink: give up on algorithms that cannot start, then report."""

        async def observe(obs: Observation) -> None:
            await self.check_start(namespace, obs)
            await sink(obs)

        return observe

    async def check_start(self, namespace: str, obs: Observation) -> bool:
        """Stop the workflow, with the reason, when its algorithm cannot start (startup.py).
        True when it was stopped now."""
        reason = self.start_watch.verdict(obs, self.clock.now())
        if reason is None:
            return False
        patch = {
            "metadata": {"annotations": {STOP_REASON_ANNOTATION: inert_text(reason)}},
            **STOP_PATCH,
        }
        try:
            await self.client.patch_workflow(namespace, obs.workflow_name, patch)
        except NotFound:
            return False
        except OperatorError as exc:
            self.start_watch.retry(obs.workflow_name)
            log.warning("algorithm_stop_failed", job_id=obs.job_id, error=exc.message)
            return False
        waiting = (waiting_reason(obs) or "").split(":", 1)[0]
        metrics.record_algorithm_start_failure(waiting)
        log.warning("algorithm_cannot_start", job_id=obs.job_id, workflow=obs.workflow_name,
                    reason=reason)  # fmt: skip
        return True

    async def _watchdog(self, sink: ObservationSink) -> None:
        while True:
            check_cancelled()
            await self.clock.sleep(self.watchdog_interval)
            await self.check_deadlines(sink)
            await self.check_starts()

    async def check_starts(self) -> None:
        """Look again at every workflow whose algorithm is waiting to start: its grace may have
        run out with no new event."""
        for watcher in self.watchers:
            for obj in list(watcher.objects.values()):
                await self.check_start(watcher.namespace, parse_workflow(obj))

    async def check_deadlines(self, sink: ObservationSink) -> list[Observation]:
        """Report, once per workflow version, every workflow Argo left running overdue
        (domain.deadlines) as finished, so the reconciler ends the job. One the sink could
        not store is offered again at the next check."""
        now = self.clock.now()
        reported: list[Observation] = []
        for watcher in self.watchers:
            for obj in list(watcher.objects.values()):
                obs = overdue_observation(obj, now)
                version = str(obj.get("metadata", {}).get("resourceVersion", ""))
                if obs is None or self._overdue_reported.get(obs.workflow_name) == version:
                    continue
                log.warning(
                    "workflow_overdue",
                    job_id=obs.job_id,
                    workflow=obs.workflow_name,
                    why=obs.message,
                )
                try:
                    await sink(obs)
                except OperatorError as exc:
                    log.warning("watchdog_sink_failed", job_id=obs.job_id, error=exc.message)
                    continue
                self._overdue_reported[obs.workflow_name] = version
                reported.append(obs)
        return reported
