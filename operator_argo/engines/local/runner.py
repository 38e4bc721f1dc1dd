"""One job's workflow on this machine: steps in order, then the exit handler, as observations."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import structlog

from operator_argo.domain.clock import SYSTEM_CLOCK  # processes run in real time
from operator_argo.domain.observation import Observation, Phase, StepObservation
from operator_argo.engines.local.launch import Launcher
from operator_argo.engines.local.process import ProcessOutcome, run_process
from operator_argo.engines.local.workflow import StepTemplate, WorkflowPlan

log = structlog.get_logger(__name__)

STOPPED_MESSAGE = "Stopped with strategy 'Stop'"  # what Argo says after `shutdown: Stop`


def _read_result(path: Path) -> Mapping[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _step_message(
    outcome: ProcessOutcome, output: Mapping[str, Any] | None, deadline: float | None
) -> str | None:
    if outcome.error is not None:
        return outcome.error
    if outcome.deadline_exceeded:
        return f"step exceeded its deadline of {deadline:g} s"
    if outcome.stopped:
        return "stopped on request"
    reported = output.get("error") if output is not None else None
    if reported:
        return str(reported)
    return None if outcome.exit_code == 0 else f"exit code {outcome.exit_code}"


class JobRun:
    """Runs a workflow plan once and reports every change through `emit`."""

    def __init__(
        self,
        *,
        job_id: str,
        plan: WorkflowPlan,
        launcher: Launcher,
        emit: Callable[[Observation], None],
        grace: float,
    ) -> None:
        self.job_id = job_id
        self.plan = plan
        self._launcher = launcher
        self._emit = emit
        self._grace = grace
        self._stop = asyncio.Event()
        self._steps: dict[str, StepObservation] = {}
        self._phase = Phase.PENDING
        self._message: str | None = None
        self._deadline_exceeded = False
        self._started_at: dt.datetime | None = None
        self._finished_at: dt.datetime | None = None

    def request_stop(self) -> None:
        """Terminate the running main step and skip the rest; the exit handler still runs."""
        if not self._stop.is_set() and not self._phase.is_done:
            log.info("local_job_stop_requested", job_id=self.job_id)
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def algorithm_over(self) -> bool:
        """The algorithm has ended, or will not run any more (the exit handler has begun)."""
        algorithm = self._steps.get("algorithm")
        if algorithm is not None and algorithm.phase.is_done:
            return True
        exit_handler = self.plan.exit_handler
        return self._phase.is_done or (
            exit_handler is not None and exit_handler.name in self._steps
        )

    def observation(self) -> Observation:
        return Observation(
            job_id=self.job_id,
            workflow_name=self.plan.name,
            phase=self._phase,
            steps=dict(self._steps),
            message=self._message,
            stopping=self._stop.is_set() and not self._phase.is_done,
            deadline_exceeded=self._deadline_exceeded,
            started_at=self._started_at,
            finished_at=self._finished_at,
            filter_planned=any(step.name == "filter" for step in self.plan.main),
        )

    def _publish(self) -> None:
        self._emit(self.observation())

    async def run(self) -> None:
        """Run the steps, then the exit handler, always ending with a final observation."""
        self._phase, self._started_at = Phase.RUNNING, SYSTEM_CLOCK.now()
        try:
            failed = await self._run_main()
            if self.plan.exit_handler is not None:
                step = await self._run_step(self.plan.exit_handler, None, report=False)
                failed = failed or step.phase is not Phase.SUCCEEDED
            self._phase = Phase.FAILED if failed else Phase.SUCCEEDED
        except Exception as exc:  # a bug here must still end the job, not leave it hanging
            log.exception("local_job_crashed", job_id=self.job_id)
            self._phase, self._message = Phase.ERROR, f"local engine error: {exc}"
        self._finished_at = SYSTEM_CLOCK.now()
        self._publish()

    async def _run_main(self) -> bool:
        """The main steps in order until one fails, a stop or the workflow deadline; failed?"""
        deadline_at = SYSTEM_CLOCK.monotonic() + self.plan.deadline if self.plan.deadline else None
        for template in self.plan.main:
            if self._stop.is_set():
                self._message = STOPPED_MESSAGE
                return True
            remaining = deadline_at - SYSTEM_CLOCK.monotonic() if deadline_at is not None else None
            if remaining is not None and remaining <= 0:
                return self._workflow_deadline()
            limit = template.deadline
            by_workflow = remaining is not None and (limit is None or remaining < limit)
            step = await self._run_step(template, remaining if by_workflow else limit)
            if step.phase is Phase.SUCCEEDED:
                continue
            if by_workflow and step.deadline_exceeded:
                return self._workflow_deadline()
            self._message = STOPPED_MESSAGE if self._stop.is_set() else self._failure(template.name)
            return True
        return False

    def _workflow_deadline(self) -> bool:
        self._deadline_exceeded = True
        self._message = f"workflow exceeded its deadline of {self.plan.deadline:g} s"
        return True

    def _failure(self, name: str) -> str:
        step = self._steps[name]
        return f"{name} failed: {step.message}" if step.message else f"{name} failed"

    async def _run_step(
        self, template: StepTemplate, deadline: float | None, *, report: bool = True
    ) -> StepObservation:
        name = template.name
        spec = self._launcher.spec_for(template, deadline)

        def started(at: dt.datetime) -> None:
            self._steps[name] = StepObservation(phase=Phase.RUNNING, started_at=at)
            self._publish()

        # The exit handler is never stopped: it uploads whatever the job left behind.
        stop = self._stop if report else asyncio.Event()
        outcome = await run_process(spec, stop, grace=self._grace, on_started=started)
        result_file = self._launcher.layout.result_file(name)
        output = _read_result(result_file) if template.reports_result else None
        ok = outcome.exit_code == 0 and not (outcome.deadline_exceeded or outcome.stopped)
        step = StepObservation(
            phase=Phase.SUCCEEDED if ok else Phase.FAILED,
            exit_code=outcome.exit_code,
            message=_step_message(outcome, output, deadline),
            output=output,
            started_at=outcome.started_at,
            finished_at=outcome.finished_at,
            deadline_exceeded=outcome.deadline_exceeded,
        )
        self._steps[name] = step
        log.info("local_step_finished", job_id=self.job_id, step=name, exit_code=step.exit_code)
        if report:
            self._publish()
        return step
