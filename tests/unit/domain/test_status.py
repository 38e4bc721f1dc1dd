"""The public status table and its transitions."""

import pytest

from operator_argo.domain.status import FINAL_STATUSES, JobStatus, can_transition

CONTRACT = {
    1: "Warming up",
    20: "Configuring volumes",
    30: "Provisioning success",
    31: "Data provisioning failed",
    32: "Algorithm provisioning failed",
    40: "Running algorithm ",
    50: "Filtering results",  # the original engine's code for its filtering step
    60: "Publishing results",
    70: "Job finished",
}


def test_codes_and_texts_match_the_contract_byte_for_byte() -> None:
    assert {int(s): s.text for s in JobStatus} == CONTRACT


def test_final_states_are_final() -> None:
    assert {int(s) for s in FINAL_STATUSES} == {31, 32, 70}
    for final in FINAL_STATUSES:
        assert not any(can_transition(final, target) for target in JobStatus)


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (JobStatus.QUEUED, JobStatus.CONFIGURING, True),
        (JobStatus.CONFIGURING, JobStatus.PROVISIONED, True),
        (JobStatus.PROVISIONED, JobStatus.RUNNING, True),
        (JobStatus.RUNNING, JobStatus.PUBLISHING, True),
        (JobStatus.PUBLISHING, JobStatus.FINISHED, True),
        (JobStatus.CONFIGURING, JobStatus.PUBLISHING, True),
        (JobStatus.RUNNING, JobStatus.CONFIGURING, False),
        (JobStatus.PUBLISHING, JobStatus.RUNNING, False),
        (JobStatus.RUNNING, JobStatus.RUNNING, False),
        (JobStatus.PUBLISHING, JobStatus.DATA_FAILED, True),
        (JobStatus.RUNNING, JobStatus.FILTERING, True),
        (JobStatus.PROVISIONED, JobStatus.FILTERING, True),
        (JobStatus.FILTERING, JobStatus.PUBLISHING, True),
        (JobStatus.FILTERING, JobStatus.FINISHED, True),
        (JobStatus.FILTERING, JobStatus.RUNNING, False),
        (JobStatus.PUBLISHING, JobStatus.FILTERING, False),
        (JobStatus.DATA_FAILED, JobStatus.FILTERING, False),
        (JobStatus.ALGORITHM_FAILED, JobStatus.FILTERING, False),
    ],
)
def test_transitions(current: JobStatus, target: JobStatus, allowed: bool) -> None:
    assert can_transition(current, target) is allowed
