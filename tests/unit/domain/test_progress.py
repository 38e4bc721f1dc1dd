"""decide_update: observations to Ocean statuses."""

import dataclasses
import datetime as dt

from operator_argo.domain.job import (
    Job,
    JobId,
)
from operator_argo.domain.names import workflow_name
from operator_argo.domain.observation import Observation, Phase, StepObservation
from operator_argo.domain.progress import decide_update
from operator_argo.domain.status import JobStatus, StopReason
from tests.kit import factories

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PUBLISHED = {
    "files": [
        {"filename": "result.txt", "filesize": 5, "type": "output", "key": "j/result.txt"},
        {"filename": "algorithm.log", "filesize": 3, "type": "algorithmLog", "key": "j/a"},
    ],
    "error": None,
}


def make_job(status: JobStatus = JobStatus.QUEUED, stopreq: StopReason = StopReason.NONE) -> Job:
    return factories.make_job(
        "env", job_id=JobId("a" * 32), status=status, stopreq=stopreq, date_created=T0
    )


def step(phase: Phase, exit_code: int | None = None, **kw: object) -> StepObservation:
    return StepObservation(phase=phase, exit_code=exit_code, **kw)  # type: ignore[arg-type]


def observe(phase: Phase | None, **steps: StepObservation) -> Observation:
    return Observation(
        job_id="a" * 32, workflow_name=workflow_name("a" * 32), phase=phase, steps=steps
    )


def test_happy_path_walks_every_status_in_order() -> None:
    job = make_job()
    sequence = [
        observe(Phase.RUNNING, configure=step(Phase.RUNNING)),
        observe(Phase.RUNNING, configure=step(Phase.SUCCEEDED, 0)),
        observe(
            Phase.RUNNING,
            configure=step(Phase.SUCCEEDED, 0),
            algorithm=step(Phase.RUNNING, started_at=T0),
        ),
        observe(
            Phase.RUNNING,
            configure=step(Phase.SUCCEEDED, 0),
            algorithm=step(Phase.SUCCEEDED, 0),
            publish=step(Phase.RUNNING),
        ),
        observe(
            Phase.SUCCEEDED,
            configure=step(Phase.SUCCEEDED, 0),
            algorithm=step(Phase.SUCCEEDED, 0),
            publish=step(Phase.SUCCEEDED, 0, output=PUBLISHED),
        ),
    ]
    seen = []
    for obs in sequence:
        update = decide_update(job, obs)
        assert update is not None
        seen.append(int(update.status))
        job = make_job(update.status)
    assert seen == [20, 30, 40, 60, 70]
    assert update.finished
    assert update.results is not None
    assert [r.filename for r in update.results] == ["result.txt", "algorithm.log"]
    assert update.termination is not None and update.termination.exit_code == 0


def test_the_algorithms_end_is_stated_while_publish_still_runs() -> None:
    obs = observe(
        Phase.RUNNING,
        configure=step(Phase.SUCCEEDED, 0),
        algorithm=step(Phase.FAILED, 3, message="Error (exit code 3)"),
        publish=step(Phase.RUNNING),
    )
    update = decide_update(make_job(JobStatus.RUNNING), obs)
    assert update is not None and update.status is JobStatus.PUBLISHING and not update.finished
    assert update.termination is not None and update.termination.exit_code == 3
    running = observe(
        Phase.RUNNING, configure=step(Phase.SUCCEEDED, 0), algorithm=step(Phase.RUNNING)
    )
    started = decide_update(make_job(JobStatus.PROVISIONED), running)
    assert started is not None and started.termination is None


def test_duplicate_and_late_observations_change_nothing() -> None:
    running = make_job(JobStatus.RUNNING)
    late = observe(Phase.RUNNING, configure=step(Phase.RUNNING))
    assert decide_update(running, late) is None
    same = observe(Phase.RUNNING, configure=step(Phase.SUCCEEDED, 0), algorithm=step(Phase.RUNNING))
    assert decide_update(running, same) is None
    assert decide_update(make_job(JobStatus.FINISHED), late) is None


def test_configure_exit_codes_end_31_and_32() -> None:
    for code, expected in ((31, JobStatus.DATA_FAILED), (32, JobStatus.ALGORITHM_FAILED)):
        obs = observe(
            Phase.FAILED,
            configure=step(Phase.FAILED, code, message="input 0 failed"),
            algorithm=step(Phase.SKIPPED),
            publish=step(Phase.SUCCEEDED, 0, output=PUBLISHED),
        )
        update = decide_update(make_job(JobStatus.PUBLISHING), obs)
        assert update is not None and update.status is expected and update.finished
        assert update.results and len(update.results) == 2


def test_algorithm_failure_ends_70_with_exit_code() -> None:
    obs = observe(
        Phase.FAILED,
        configure=step(Phase.SUCCEEDED, 0),
        algorithm=step(Phase.FAILED, 1, message="Error (exit code 1)"),
        publish=step(Phase.SUCCEEDED, 0, output=PUBLISHED),
    )
    update = decide_update(make_job(JobStatus.PUBLISHING), obs)
    assert update is not None and update.status is JobStatus.FINISHED
    assert update.termination is not None and update.termination.exit_code == 1
    assert update.stopreq is None


def test_algorithm_deadline_sets_stopreq_2() -> None:
    obs = observe(
        Phase.FAILED,
        configure=step(Phase.SUCCEEDED, 0),
        algorithm=step(Phase.FAILED, None, deadline_exceeded=True),
        publish=step(Phase.SUCCEEDED, 0, output=PUBLISHED),
    )
    update = decide_update(make_job(JobStatus.RUNNING), obs)
    assert update is not None and update.stopreq is StopReason.DEADLINE


def test_stop_while_configuring_ends_70_not_31() -> None:
    obs = observe(
        Phase.FAILED,
        configure=step(Phase.FAILED, 143),
        publish=step(Phase.SUCCEEDED, 0, output=PUBLISHED),
    )
    update = decide_update(make_job(JobStatus.PUBLISHING, StopReason.REQUESTED), obs)
    assert update is not None and update.status is JobStatus.FINISHED


def test_configure_crash_ends_31() -> None:
    obs = observe(
        Phase.FAILED,
        configure=step(Phase.ERROR, 1),
        publish=step(Phase.SUCCEEDED, 0, output=PUBLISHED),
    )
    update = decide_update(make_job(JobStatus.CONFIGURING), obs)
    assert update is not None and update.status is JobStatus.DATA_FAILED


def test_deleted_workflow_ends_the_job_with_an_error() -> None:
    update = decide_update(make_job(JobStatus.RUNNING), observe(None))
    assert update is not None and update.finished and update.status is JobStatus.FINISHED
    assert update.error and "deleted" in update.error


def test_missing_publish_output_still_finishes_with_empty_results() -> None:
    obs = observe(
        Phase.ERROR,
        configure=step(Phase.SUCCEEDED, 0),
        algorithm=step(Phase.SUCCEEDED, 0),
        publish=step(Phase.ERROR),
    )
    update = decide_update(make_job(JobStatus.PUBLISHING), obs)
    assert update is not None and update.results == () and update.error


def test_a_filtering_step_shows_50_between_the_algorithm_and_publish() -> None:
    done = step(Phase.SUCCEEDED, 0)
    job = make_job(JobStatus.RUNNING)
    between = dataclasses.replace(
        observe(Phase.RUNNING, configure=done, algorithm=done), filter_planned=True
    )
    assert decide_update(job, between) is None  # the filter is next, not publish: stays 40
    without = observe(Phase.RUNNING, configure=done, algorithm=done)
    update = decide_update(job, without)
    assert update is not None and update.status is JobStatus.PUBLISHING
    filtering = observe(Phase.RUNNING, configure=done, algorithm=done, filter=step(Phase.RUNNING))
    update = decide_update(job, filtering)
    assert update is not None and update.status is JobStatus.FILTERING
    job = make_job(JobStatus.FILTERING)
    assert decide_update(job, filtering) is None  # a repeat is no move
    late = observe(Phase.RUNNING, configure=done, algorithm=step(Phase.RUNNING))
    assert decide_update(job, late) is None  # never back to 40
    publishing = observe(
        Phase.RUNNING, configure=done, algorithm=done, filter=done, publish=step(Phase.RUNNING)
    )
    update = decide_update(job, publishing)
    assert update is not None and update.status is JobStatus.PUBLISHING
    finished = observe(
        Phase.SUCCEEDED,
        configure=done,
        algorithm=done,
        filter=done,
        publish=step(Phase.SUCCEEDED, 0, output=PUBLISHED),
    )
    update = decide_update(make_job(JobStatus.PUBLISHING), finished)
    assert update is not None and update.status is JobStatus.FINISHED and update.error is None


def test_a_failed_filter_ends_the_job_70_with_a_clear_error() -> None:
    done = step(Phase.SUCCEEDED, 0)
    logs_only = {"files": PUBLISHED["files"][1:], "error": "outputs withheld"}
    obs = observe(
        Phase.FAILED,
        configure=done,
        algorithm=done,
        filter=step(Phase.FAILED, 3, message="Error (exit code 3)"),
        publish=step(Phase.SUCCEEDED, 0, output=logs_only),
    )
    update = decide_update(make_job(JobStatus.FILTERING), obs)
    assert update is not None and update.status is JobStatus.FINISHED
    assert (
        update.error is not None and "filtering step failed (Error (exit code 3))" in update.error
    )
    assert update.stopreq is None
    assert update.termination is not None and update.termination.exit_code == 0  # the algorithm's


def test_a_filter_past_its_deadline_is_a_deadline_stop() -> None:
    done = step(Phase.SUCCEEDED, 0)
    obs = observe(
        Phase.FAILED,
        configure=done,
        algorithm=done,
        filter=step(Phase.FAILED, message="Pod was active too long", deadline_exceeded=True),
        publish=step(Phase.SUCCEEDED, 0, output=PUBLISHED),
    )
    update = decide_update(make_job(JobStatus.FILTERING), obs)
    assert update is not None and update.stopreq is StopReason.DEADLINE
    assert update.error is not None and "not published" in update.error


def test_a_configure_failure_stays_31_whatever_the_filter_did() -> None:
    obs = observe(
        Phase.FAILED,
        configure=step(Phase.FAILED, 31, message="input 0 failed"),
        filter=step(Phase.OMITTED),
        publish=step(Phase.SUCCEEDED, 0, output=PUBLISHED),
    )
    update = decide_update(make_job(JobStatus.PUBLISHING), obs)
    assert update is not None and update.status is JobStatus.DATA_FAILED
    assert update.error == "input 0 failed"


def test_a_configure_failure_stays_at_20_while_publish_runs_then_ends_31_or_32() -> None:
    for code, final in ((31, JobStatus.DATA_FAILED), (32, JobStatus.ALGORITHM_FAILED), (1, 31)):
        job, seen = make_job(), []
        failed = step(Phase.FAILED, code)
        for obs in (
            observe(Phase.RUNNING, configure=step(Phase.RUNNING)),
            observe(Phase.RUNNING, configure=failed, publish=step(Phase.PENDING)),
            observe(Phase.RUNNING, configure=failed, publish=step(Phase.RUNNING)),
            observe(
                Phase.FAILED, configure=failed, publish=step(Phase.SUCCEEDED, 0, output=PUBLISHED)
            ),
        ):
            update = decide_update(job, obs)
            if update is not None:
                seen.append(int(update.status))
                job = make_job(update.status)
        assert seen == [20, int(final)]


def test_a_configure_failure_seen_only_when_publish_runs_moves_a_queued_job_to_20() -> None:
    obs = observe(Phase.RUNNING, configure=step(Phase.FAILED, 31), publish=step(Phase.RUNNING))
    update = decide_update(make_job(JobStatus.QUEUED), obs)
    assert update is not None and update.status is JobStatus.CONFIGURING


def test_a_stop_while_configuring_still_shows_60_while_publishing_before_70() -> None:
    obs = observe(Phase.RUNNING, configure=step(Phase.FAILED, 143), publish=step(Phase.RUNNING))
    update = decide_update(make_job(JobStatus.CONFIGURING, StopReason.REQUESTED), obs)
    assert update is not None and update.status is JobStatus.PUBLISHING
