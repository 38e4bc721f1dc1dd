"""From an observation to the job's next Ocean status: the pure heart of the reconciler."""

from __future__ import annotations

from operator_argo.domain.job import (
    Job,
    JobUpdate,
    ResultFile,
    TerminationDetails,
    results_from_list,
)
from operator_argo.domain.observation import Observation, Phase, StepObservation
from operator_argo.domain.status import JobStatus, StopReason, can_transition

# Exit codes of the configure step (CONTRACT §4): which input failed.
CONFIGURE_DATA_FAILED = 31
CONFIGURE_ALGORITHM_FAILED = 32


def _configure_failed(configure: StepObservation | None) -> bool:
    return (
        configure is not None and configure.phase.is_done and configure.phase is not Phase.SUCCEEDED
    )


def _status_while_running(job: Job, obs: Observation) -> JobStatus:
    configure = obs.step("configure")
    algorithm = obs.step("algorithm")
    filtering = obs.step("filter")
    publish = obs.step("publish")
    # Configure failed and the exit handler uploads the logs. A job that will end 31 or 32 stays
    # at 20 meanwhile: showing 60 first would make its status go down.
    if _configure_failed(configure) and _final_status(job, obs)[0] is not JobStatus.FINISHED:
        return JobStatus.CONFIGURING
    if publish is not None and publish.phase is not Phase.PENDING:
        return JobStatus.PUBLISHING
    if filtering is not None and filtering.phase is not Phase.PENDING:
        return JobStatus.FILTERING if not filtering.phase.is_done else JobStatus.PUBLISHING
    if algorithm is not None and algorithm.phase is not Phase.PENDING:
        if not algorithm.phase.is_done:
            return JobStatus.RUNNING
        if algorithm.phase is Phase.SUCCEEDED and obs.filter_planned:
            return JobStatus.RUNNING  # the filtering step is next, not publish: stay at 40
        return JobStatus.PUBLISHING
    if configure is not None and configure.phase is Phase.SUCCEEDED:
        return JobStatus.PROVISIONED
    if configure is not None and configure.phase is Phase.RUNNING:
        return JobStatus.CONFIGURING
    if configure is not None and configure.phase.is_done:
        return JobStatus.PUBLISHING  # stopped while configuring: the exit handler is next
    return JobStatus.QUEUED


def _final_status(job: Job, obs: Observation) -> tuple[JobStatus, str | None]:
    configure = obs.step("configure")
    if configure is None or configure.phase is Phase.SUCCEEDED:
        return JobStatus.FINISHED, None
    if configure.exit_code == CONFIGURE_ALGORITHM_FAILED:
        return JobStatus.ALGORITHM_FAILED, configure.message
    if configure.exit_code == CONFIGURE_DATA_FAILED:
        return JobStatus.DATA_FAILED, configure.message
    if job.stopreq is StopReason.REQUESTED or configure.phase is Phase.PENDING:
        return JobStatus.FINISHED, None  # stopped before or while configuring
    # Configure crashed or ran out of time: the data was not provisioned.
    return JobStatus.DATA_FAILED, configure.message or obs.message or "configure did not finish"


def _filter_failure(obs: Observation) -> tuple[str | None, bool]:
    """Why the filtering step failed (None when it passed or never ran) and whether it ran out
    of time. Publish withholds the outputs in both cases: only the logs are published."""
    filtering = obs.step("filter")
    if filtering is None or filtering.phase in (Phase.SUCCEEDED, Phase.SKIPPED, Phase.OMITTED):
        return None, False
    if not filtering.phase.is_done:
        return "the filtering step did not finish; the outputs were not published", False
    detail = filtering.message or (
        f"exit code {filtering.exit_code}" if filtering.exit_code is not None else "no reason given"
    )
    why = f"the filtering step failed ({detail}); the outputs were not published"
    return why, filtering.deadline_exceeded


def _termination(step: StepObservation | None) -> TerminationDetails | None:
    if step is None or not step.phase.is_done or step.phase is Phase.SKIPPED:
        return None
    return TerminationDetails(
        exit_code=step.exit_code, oom_killed=step.oom_killed, message=step.message
    )


def _results(obs: Observation) -> tuple[tuple[ResultFile, ...], str | None]:
    publish = obs.step("publish")
    if publish is None or publish.output is None:
        return (), "publish reported no results"
    try:
        files = publish.output.get("files", [])
        return results_from_list(list(files)), publish.output.get("error")
    except (KeyError, TypeError, ValueError) as exc:
        return (), f"publish reported unreadable results: {exc}"


def decide_update(job: Job, obs: Observation) -> JobUpdate | None:
    """The update `obs` calls for, or None when it changes nothing (duplicate, late, final job)."""
    if job.status.is_final:
        return None
    if obs.deleted:
        return JobUpdate(
            status=JobStatus.FINISHED,
            finished=True,
            results=job.results or (),
            error="the workflow was deleted before it finished",
        )
    algorithm = obs.step("algorithm")
    if not obs.finished:
        target = _status_while_running(job, obs)
        if not can_transition(job.status, target):
            return None
        started = algorithm.started_at if algorithm is not None else None
        return JobUpdate(
            status=target, algorithm_started_at=started, termination=_termination(algorithm)
        )
    status, reason = _final_status(job, obs)
    results, publish_error = _results(obs)
    filter_error, filter_deadline = _filter_failure(obs)
    stopreq = None
    deadline = (algorithm is not None and algorithm.deadline_exceeded) or filter_deadline
    if deadline or (obs.deadline_exceeded and job.stopreq is StopReason.NONE):
        stopreq = StopReason.DEADLINE
    error = reason if status is not JobStatus.FINISHED else filter_error or publish_error
    if obs.stop_reason:
        error = obs.stop_reason  # the engine ended the workflow, and said why
    elif obs.phase is Phase.ERROR and error is None:
        error = obs.message
    return JobUpdate(
        status=status,
        finished=True,
        results=results,
        stopreq=stopreq,
        termination=_termination(algorithm),
        algorithm_started_at=algorithm.started_at if algorithm is not None else None,
        error=error,
    )
