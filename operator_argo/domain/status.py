"""Job statuses: the public codes and texts of the Ocean contract, and the allowed transitions."""

from __future__ import annotations

import enum


class JobStatus(enum.IntEnum):
    """A job's public status. The numbers and texts are part of the HTTP contract: byte-exact."""

    text: str

    def __new__(cls, code: int, text: str) -> JobStatus:
        member = int.__new__(cls, code)
        member._value_ = code
        member.text = text
        return member

    QUEUED = (1, "Warming up")
    CONFIGURING = (20, "Configuring volumes")
    PROVISIONED = (30, "Provisioning success")
    DATA_FAILED = (31, "Data provisioning failed")
    ALGORITHM_FAILED = (32, "Algorithm provisioning failed")
    RUNNING = (40, "Running algorithm ")  # the trailing space is part of the contract
    FILTERING = (50, "Filtering results")  # only in environments with a filtering step
    PUBLISHING = (60, "Publishing results")
    FINISHED = (70, "Job finished")

    @property
    def is_final(self) -> bool:
        """True for the three states a job never leaves."""
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({JobStatus.DATA_FAILED, JobStatus.ALGORITHM_FAILED, JobStatus.FINISHED})

# Progress only moves forward. Publishing may follow any non-final state because publish is the
# exit handler: it runs after a configure failure, a stop or a timeout as well as after success.
# Filtering runs after the algorithm and before publish; a watcher that missed the states in
# between may see it first. Nothing leaves a final state, so a filter never overwrites 31 or 32.
_ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset(
        {
            JobStatus.CONFIGURING,
            JobStatus.PROVISIONED,
            JobStatus.RUNNING,
            JobStatus.FILTERING,
            JobStatus.PUBLISHING,
        }
        | FINAL_STATUSES
    ),
    JobStatus.CONFIGURING: frozenset(
        {JobStatus.PROVISIONED, JobStatus.RUNNING, JobStatus.FILTERING, JobStatus.PUBLISHING}
        | FINAL_STATUSES
    ),
    JobStatus.PROVISIONED: frozenset(
        {JobStatus.RUNNING, JobStatus.FILTERING, JobStatus.PUBLISHING} | FINAL_STATUSES
    ),
    JobStatus.RUNNING: frozenset({JobStatus.FILTERING, JobStatus.PUBLISHING} | FINAL_STATUSES),
    JobStatus.FILTERING: frozenset({JobStatus.PUBLISHING} | FINAL_STATUSES),
    JobStatus.PUBLISHING: FINAL_STATUSES,
    JobStatus.DATA_FAILED: frozenset(),
    JobStatus.ALGORITHM_FAILED: frozenset(),
    JobStatus.FINISHED: frozenset(),
}


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    """Whether a job in `current` may move to `target` (repeating a state is not a move)."""
    return target in _ALLOWED[current]


class StopReason(enum.IntEnum):
    """The `stopreq` field: why a job was stopped, if it was."""

    NONE = 0
    REQUESTED = 1
    DEADLINE = 2
