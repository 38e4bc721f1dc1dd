"""Deadlines: how long a job's workflow may take, and the one rule for "overdue".

The builder gives each step its deadline and the workflow the sum plus a margin; a workflow
that is still running `OVERDUE_GRACE` past that has been forgotten by its engine (a controller
that stopped reconciling it, a lost pod), and every watchdog ends such a job with `is_overdue`.
"""

from __future__ import annotations

import datetime as dt

DEADLINE_MARGIN = 300  # seconds the workflow deadline leaves beyond its steps
OVERDUE_GRACE = 300  # seconds past the workflow deadline before a watchdog ends the job


def workflow_deadline(configure: int, algorithm: int, publish: int, filtering: int = 0) -> int:
    """Seconds the whole workflow may run: its step deadlines (`filtering` 0 when the
    environment has no filtering step) plus a margin."""
    return configure + algorithm + filtering + publish + DEADLINE_MARGIN


def overdue_by(started: dt.datetime, deadline: float, now: dt.datetime) -> float:
    """Seconds a workflow started at `started` has run past its deadline (negative: not yet)."""
    return (now - started).total_seconds() - deadline


def overdue_cutoff(deadline: float, now: dt.datetime) -> dt.datetime:
    """The latest start at which a workflow with `deadline` seconds is overdue at `now`: a store
    can find such workflows by their start alone."""
    return now - dt.timedelta(seconds=deadline + OVERDUE_GRACE)


def is_overdue(started: dt.datetime, deadline: float, now: dt.datetime) -> bool:
    """Whether a workflow with `deadline` seconds, started at `started`, is overdue at `now`."""
    return started <= overdue_cutoff(deadline, now)
