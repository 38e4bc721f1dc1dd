"""When the engine gives up on an algorithm whose container cannot start (pure, virtual time)."""

from __future__ import annotations

import datetime as dt

import pytest

from operator_argo.domain.observation import Observation, Phase, StepObservation
from operator_argo.engines.argo.startup import StartWatch, stop_reason, waiting_reason

T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
PULL = 'ErrImagePull: failed to pull and unpack image "org/algo:1": not found'


def observed(
    step: str = "algorithm",
    phase: Phase = Phase.PENDING,
    message: str | None = PULL,
    **workflow: object,
) -> Observation:
    steps = {
        "configure": StepObservation(phase=Phase.SUCCEEDED, exit_code=0),
        step: StepObservation(phase=phase, message=message),
    }
    fields: dict[str, object] = {"phase": Phase.RUNNING} | workflow
    return Observation(job_id="j", workflow_name="c2d-j", steps=steps, **fields)  # type: ignore[arg-type]


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_a_pull_error_gets_the_grace_then_ends_the_job_once() -> None:
    watch = StartWatch(grace=60)
    assert watch.verdict(observed(), at(0)) is None
    assert watch.verdict(observed(message="ImagePullBackOff: Back-off pulling"), at(59)) is None
    reason = watch.verdict(observed(message="ImagePullBackOff: Back-off pulling"), at(60))
    assert reason == stop_reason("ImagePullBackOff: Back-off pulling")
    assert reason.startswith("the algorithm could not start: ImagePullBackOff")
    assert watch.verdict(observed(), at(120)) is None  # decided once per workflow


@pytest.mark.parametrize("reason", ["InvalidImageName", "ErrImageNeverPull"])
def test_a_reference_that_can_never_work_ends_the_job_at_once(reason: str) -> None:
    message = f'{reason}: Failed to apply default image tag "Bad Name"'
    assert StartWatch(grace=600).verdict(observed(message=message), at(0)) == stop_reason(message)


def test_a_start_that_clears_within_the_grace_resets_the_clock() -> None:
    watch = StartWatch(grace=60)
    assert watch.verdict(observed(), at(0)) is None
    assert watch.verdict(observed(phase=Phase.RUNNING, message=None), at(30)) is None
    assert watch.verdict(observed(), at(80)) is None  # a new wait: its own grace
    assert watch.verdict(observed(), at(140)) is not None


@pytest.mark.parametrize(
    "obs",
    [
        observed(step="configure"),  # the operator's own image: an installation fault, waits
        observed(step="publish"),
        observed(message="PodInitializing"),
        observed(message="ContainerCreating: waiting"),
        observed(phase=Phase.RUNNING),
        observed(stopping=True),  # already being stopped
        observed(stop_reason="stopped already"),
        observed(phase=Phase.FAILED),
    ],
)
def test_other_waits_and_steps_are_left_alone(obs: Observation) -> None:
    watch = StartWatch(grace=0.001)
    assert watch.verdict(obs, at(0)) is None
    assert watch.verdict(obs, at(3600)) is None


def test_a_stop_that_could_not_be_written_is_decided_again() -> None:
    watch = StartWatch(grace=1)
    watch.verdict(observed(), at(0))
    assert watch.verdict(observed(), at(1)) is not None
    watch.retry("c2d-j")
    assert watch.verdict(observed(), at(2)) is not None


def test_the_reason_is_the_step_message_kept_short() -> None:
    long = "ErrImagePull: " + "x" * 5000
    assert waiting_reason(observed(message=long)) == long
    assert len(stop_reason(long)) < 600
