"""Workflow watcher: list+watch a namespace, resume from resourceVersion, relist on 410, resync."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any

import structlog

from operator_argo.domain.backoff import Backoff
from operator_argo.domain.cancellation import check_cancelled
from operator_argo.domain.clock import SYSTEM_CLOCK, Clock
from operator_argo.domain.errors import OperatorError
from operator_argo.domain.names import MANAGED_SELECTOR
from operator_argo.domain.observation import Observation
from operator_argo.domain.ports import ObservationSink
from operator_argo.engines.argo.client import Gone, KubeClient, WatchEvent
from operator_argo.engines.argo.status import parse_workflow
from operator_argo.observability import metrics

log = structlog.get_logger(__name__)


def _version(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata")
    return str(metadata.get("resourceVersion") or "") if isinstance(metadata, Mapping) else ""


def _name(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata")
    return str(metadata.get("name") or "") if isinstance(metadata, Mapping) else ""


def is_newer(candidate: str, current: str) -> bool:
    """Whether resourceVersion `candidate` comes after `current`. Versions are opaque to
    clients, but every real API server uses integers; anything else is taken as newer."""
    if not current:
        return True
    try:
        return int(candidate) > int(current)
    except ValueError:
        return candidate != current


def deleted_observation(obj: Mapping[str, Any]) -> Observation:
    """What to report for a workflow that disappeared: its last state if it had finished
    (normal garbage collection after the job was stored), otherwise a deleted observation."""
    last = parse_workflow(obj)
    if last.finished:
        return last
    return Observation(job_id=last.job_id, workflow_name=last.workflow_name, phase=None)


class WorkflowWatcher:
    """Reports every managed workflow of one namespace to `sink`, until cancelled.

    An event is taken as seen (its resourceVersion kept) only once the sink stored it; a sink
    that fails retryably (the database is out) makes the watcher back off and watch again from
    the last stored event, so the observation is offered again.
    """

    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        sink: ObservationSink,
        *,
        resync_interval: float = 60.0,
        label_selector: str = MANAGED_SELECTOR,
        backoff_base: float = 0.2,
        backoff_max: float = 30.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.sink = sink
        self.clock = clock
        self.resync_interval = resync_interval
        self.label_selector = label_selector
        self._backoff = Backoff(base=backoff_base, cap=backoff_max)
        self.resource_version = ""
        self.objects: dict[str, Mapping[str, Any]] = {}  # latest known object per workflow name
        self.relists = 0

    async def run(self) -> None:
        """Relist, then watch until the next resync; errors back off and never end the loop."""
        log.info("watcher_started", namespace=self.namespace, selector=self.label_selector)
        while True:
            check_cancelled()
            try:
                await self.relist()
                await self._watch_until(self.clock.monotonic() + self.resync_interval)
            except OperatorError as exc:
                await self._back_off("watcher_list_failed", exc)

    async def relist(self) -> None:
        """List every workflow, report each one, and report the ones that vanished."""
        listed = await self.client.list_workflows(
            self.namespace, label_selector=self.label_selector
        )
        self.relists += 1
        current = {_name(obj): obj for obj in listed.items if _name(obj)}
        vanished = [obj for name, obj in self.objects.items() if name not in current]
        self.objects = dict(current)
        self.resource_version = listed.resource_version
        self._backoff.reset()
        log.debug(
            "watcher_relisted",
            namespace=self.namespace,
            count=len(current),
            resource_version=self.resource_version,
        )
        for obj in current.values():
            await self._report(parse_workflow(obj))
        for gone in vanished:
            log.info("workflow_vanished", namespace=self.namespace, workflow=_name(gone))
            await self._report(deleted_observation(gone))

    async def _watch_until(self, deadline: float) -> None:
        """Watch (resuming after drops) until `deadline`; return early on 410 to relist."""
        while (remaining := deadline - self.clock.monotonic()) > 0:
            check_cancelled()
            try:
                # The server ends the watch at timeoutSeconds; the client's request timeout
                # backs that up. No local timeout here: it could cancel a sink mid-write.
                await self._watch_once(max(1, math.ceil(remaining)))
            except Gone:
                log.info("watcher_gone", namespace=self.namespace, rv=self.resource_version)
                return
            except OperatorError as exc:
                await self._back_off("watcher_watch_failed", exc)

    async def _watch_once(self, timeout_seconds: int) -> None:
        stream = self.client.watch_workflows(
            self.namespace,
            label_selector=self.label_selector,
            resource_version=self.resource_version,
            timeout_seconds=timeout_seconds,
            allow_bookmarks=True,
        )
        async with contextlib.aclosing(stream):
            async for event in stream:
                self._backoff.reset()
                await self.handle(event)

    async def handle(self, event: WatchEvent) -> None:
        """Apply one watch event: track its resourceVersion, report what changed."""
        version = _version(event.object)
        metrics.record_watch_event(self.namespace, event.type)
        if event.type == "BOOKMARK":
            self._advance(version)
            return
        name = _name(event.object)
        known = self.objects.get(name)
        if known is not None and version and not is_newer(version, _version(known)):
            # A replayed or out-of-order event: the state we reported is already newer.
            log.debug("watch_event_stale", namespace=self.namespace, workflow=name, rv=version)
            return
        if event.type == "DELETED":
            await self._report(deleted_observation(event.object))
            self.objects.pop(name, None)
        elif event.type in ("ADDED", "MODIFIED"):
            await self._report(parse_workflow(event.object))
            self.objects[name] = event.object
        self._advance(version)

    def _advance(self, version: str) -> None:
        if version and is_newer(version, self.resource_version):
            self.resource_version = version

    async def _report(self, observation: Observation) -> None:
        """Hand one observation to the sink. A retryable failure is raised (the caller backs off
        and the observation comes again); any other is logged, so that one bad job does not stop
        the watch of every other one."""
        try:
            await self.sink(observation)
        except OperatorError as exc:
            if exc.retryable:
                raise
            log.error(
                "watcher_sink_failed",
                namespace=self.namespace,
                workflow=observation.workflow_name,
                job_id=observation.job_id,
                error=exc.message,
            )
        check_cancelled()  # a cancellation the sink's database call may have swallowed

    async def _back_off(self, event: str, exc: OperatorError) -> None:
        check_cancelled()  # the error may be a cancellation the HTTP client turned into one
        delay = self._backoff.next_delay()
        log.warning(event, namespace=self.namespace, error=exc.message, retry_in=delay)
        await self.clock.sleep(delay)
