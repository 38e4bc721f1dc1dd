"""The embedded local engine: runs each job's built Argo Workflow as processes on this machine.

Each job's workflow (the same dict the Argo engine submits) is interpreted: `configure`, then
`algorithm` if configure succeeded and no stop was asked for, then the exit handler `publish`
always. A job's /data is `<data_dir>/jobs/<jobId>/data`, its admin area `.../admin`. The algorithm
runs under bubblewrap when `bwrap` is available (see sandbox.py), else as a plain process.

Restart policy (`resume`): processes do not survive the operator (bubblewrap dies with its parent,
plain steps get PDEATHSIG and their sessions are recorded in pid files and killed on resume). Each
interrupted job runs again from the start on a wiped job directory: the steps are idempotent and
the job's inputs are still valid. A job whose stop was requested before the restart is not run
again: only its exit handler runs, to publish the logs it left. A job whose workflow cannot be
planned any more is refused, and the caller ends it.

The engine runs whatever workflow `build` makes (app.py passes the Argo builder), so it never
imports another engine.
"""

from __future__ import annotations

import asyncio
import collections
import shutil
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import structlog

from operator_argo.config import Settings
from operator_argo.domain.backoff import Backoff
from operator_argo.domain.cancellation import check_cancelled
from operator_argo.domain.clock import SYSTEM_CLOCK, Clock
from operator_argo.domain.environment import Environment
from operator_argo.domain.errors import NotFound, OperatorError, PermanentEngineError
from operator_argo.domain.job import Job
from operator_argo.domain.observation import Observation
from operator_argo.domain.ports import ObservationSink, Takeover
from operator_argo.domain.status import StopReason
from operator_argo.engines.local.launch import Launcher, secret_values
from operator_argo.engines.local.layout import JobLayout
from operator_argo.engines.local.logs import follow_file
from operator_argo.engines.local.process import kill_leftovers
from operator_argo.engines.local.runner import JobRun
from operator_argo.engines.local.sandbox import interpreter_tools
from operator_argo.engines.local.workflow import WorkflowPlan, read_workflow

log = structlog.get_logger(__name__)

SINK_RETRY_BASE = 0.5  # seconds before an observation the database refused is offered again
SINK_RETRY_CAP = 30.0  # longest wait between those offers

BuildWorkflow = Callable[[Job, Environment, Settings], Mapping[str, Any]]
KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL


class LocalEngine:
    """domain.ports.Engine on this machine; jobs are asyncio tasks running child processes."""

    def __init__(
        self,
        settings: Settings,
        *,
        build: BuildWorkflow,
        key_for: Callable[[Environment], str | None],
        bwrap: str | None = None,
        kill_grace: float = KILL_GRACE,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._settings = settings
        self._build = build
        self._key_for = key_for
        self._bwrap = bwrap
        self._grace = kill_grace
        self._clock = clock
        self._runs: dict[str, tuple[JobRun, asyncio.Task[None]]] = {}
        self._starting: set[str] = set()  # jobs whose directory is being prepared
        self._pending: collections.deque[Observation] = collections.deque()
        self._wakeup = asyncio.Event()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        build: BuildWorkflow,
        key_for: Callable[[Environment], str | None],
        **kwargs: Any,
    ) -> LocalEngine:
        """An engine that sandboxes algorithms with bubblewrap when this machine has it."""
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            log.warning(
                "sandbox_unavailable",
                detail="bwrap not found: algorithms run as plain processes, jobs are NOT isolated",
            )
        else:
            log.info("sandbox_available", bwrap=bwrap)
        return cls(settings, build=build, key_for=key_for, bwrap=bwrap, **kwargs)

    @property
    def sandboxed(self) -> bool:
        return self._bwrap is not None

    def layout(self, job_id: str) -> JobLayout:
        return JobLayout.for_job(self._settings.data_dir, job_id)

    # --- Engine port ---------------------------------------------------------------------------

    async def submit(self, job: Job, environment: Environment) -> str:
        """Start the job's workflow; a job already known here is not started twice."""
        known = self._runs.get(job.job_id)
        if known is not None:
            return known[0].plan.name
        plan = self._plan(job, environment)
        if job.job_id in self._starting:
            return plan.name
        await self._start(job, environment, plan, publish_only=False)
        return plan.name

    async def stop(self, job: Job) -> None:
        known = self._runs.get(job.job_id)
        if known is not None:
            known[0].request_stop()

    async def delete(self, job: Job) -> None:
        """Stop the job if it runs, wait for it to end, and remove its directory."""
        known = self._runs.pop(job.job_id, None)
        if known is not None:
            run, task = known
            run.request_stop()
            await asyncio.shield(task)
        layout = self.layout(job.job_id)
        for pid_file in layout.pid_files():
            kill_leftovers(pid_file)
        await asyncio.to_thread(layout.remove)
        log.info("local_job_deleted", job_id=job.job_id)

    async def release(self, job: Job) -> None:
        """A finished job's directory goes at once: nothing here shows finished jobs (the
        retention settings are the Argo engine's)."""
        await self.delete(job)

    async def ran_image(self, job: Job) -> str | None:
        """None: the local engine runs the algorithm as a process, not from an image."""
        return None

    async def follow_log(self, job: Job) -> AsyncIterator[bytes]:
        """The algorithm's log file as the algorithm writes it (stdout and stderr), until the
        algorithm has ended; NotFound for a job that does not run here."""
        known = self._runs.get(job.job_id)
        if known is None:
            raise NotFound(f"job {job.job_id} does not run on this machine")
        run = known[0]
        path = self.layout(job.job_id).step_log("algorithm")
        async for chunk in follow_file(
            path, ended=lambda: run.algorithm_over, sleep=self._clock.sleep
        ):
            yield chunk

    async def watch(self, sink: ObservationSink) -> None:
        """Deliver observations in order until cancelled.

        One the sink could not store for now (a retryable error: the database is out) is kept
        and offered again with capped backoff; one it refused for good is logged and dropped, so
        it cannot hold up every later one (the next observation of that job carries its state).
        """
        backoff = Backoff(base=SINK_RETRY_BASE, cap=SINK_RETRY_CAP)
        while True:
            check_cancelled()
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            observation = self._pending[0]
            try:
                await sink(observation)
            except OperatorError as exc:
                if exc.retryable:
                    delay = backoff.next_delay()
                    log.warning(
                        "local_observation_deferred",
                        job_id=observation.job_id,
                        error=exc.message,
                        retry_in=delay,
                    )
                    await self._clock.sleep(delay)
                    continue
                log.error("local_observation_failed", job_id=observation.job_id, error=exc.message)
            backoff.reset()
            self._pending.popleft()

    # --- lifecycle -----------------------------------------------------------------------------

    async def resume(self, jobs: Sequence[tuple[Job, Environment]]) -> Takeover:
        """Run again the jobs a previous operator process left (policy: module docstring)."""
        submitted: dict[str, str] = {}
        refused: dict[str, str] = {}
        for job, environment in jobs:
            if job.job_id in self._runs or job.job_id in self._starting or job.is_finished:
                continue
            try:
                plan = self._plan(job, environment)
            except PermanentEngineError as exc:
                log.warning("local_job_not_resumed", job_id=job.job_id, reason=exc.message)
                refused[job.job_id] = f"cannot run the workflow again: {exc.message}"
                continue
            publish_only = job.stopreq is not StopReason.NONE
            log.info("local_job_resumed", job_id=job.job_id, publish_only=publish_only)
            await self._start(job, environment, plan, publish_only=publish_only)
            submitted[job.job_id] = plan.name
        return Takeover(submitted=submitted, refused=refused)

    async def close(self) -> None:
        """Kill every job's processes (they are run again on resume) and forget them."""
        tasks = [task for _, task in self._runs.values() if not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._runs.clear()

    # --- internals -----------------------------------------------------------------------------

    def _plan(self, job: Job, environment: Environment) -> WorkflowPlan:
        try:
            workflow = self._build(job, environment, self._settings)
        except (ValueError, KeyError, TypeError) as exc:
            raise PermanentEngineError(f"cannot build the workflow of {job.job_id}: {exc}") from exc
        return read_workflow(workflow)

    async def _start(
        self, job: Job, environment: Environment, plan: WorkflowPlan, *, publish_only: bool
    ) -> None:
        layout = self.layout(job.job_id)
        self._starting.add(job.job_id)
        try:
            for pid_file in layout.pid_files():
                kill_leftovers(pid_file)
            if not publish_only:
                await asyncio.to_thread(layout.remove)  # an interrupted run: start from scratch
            layout.create()
        finally:
            self._starting.discard(job.job_id)
        launcher = Launcher(
            settings=self._settings,
            environment=environment,
            layout=layout,
            secrets=secret_values(self._settings, self._key_for(environment)),
            bwrap=self._bwrap,
            tools_dir=interpreter_tools(self._settings.data_dir.resolve() / "local-engine" / "bin"),
        )
        run = JobRun(
            job_id=job.job_id, plan=plan, launcher=launcher, emit=self._emit, grace=self._grace
        )
        if publish_only:
            run.request_stop()
        task = asyncio.create_task(run.run(), name=f"local-job-{job.job_id}")
        self._runs[job.job_id] = (run, task)
        log.info(
            "local_job_started", job_id=job.job_id, workflow=plan.name, sandboxed=self.sandboxed
        )

    def _emit(self, observation: Observation) -> None:
        self._pending.append(observation)
        self._wakeup.set()
