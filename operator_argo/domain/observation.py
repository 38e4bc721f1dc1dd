"""Observations: what an engine saw of a job's workflow, in one shape for every engine."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping
from typing import Any

STEP_NAMES = ("configure", "algorithm", "filter", "publish")  # filter: only when configured


class Phase(enum.Enum):
    """Phase of a workflow or a step, as Argo names them."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERROR = "Error"
    SKIPPED = "Skipped"
    OMITTED = "Omitted"

    @property
    def is_done(self) -> bool:
        return self not in (Phase.PENDING, Phase.RUNNING)

    @classmethod
    def parse(cls, value: object) -> Phase:
        """Lenient: an unknown or empty phase counts as pending."""
        try:
            return cls(value)
        except ValueError:
            return cls.PENDING


@dataclasses.dataclass(frozen=True, kw_only=True)
class StepObservation:
    """One step (configure, algorithm or publish) of a job's workflow."""

    phase: Phase
    exit_code: int | None = None
    message: str | None = None
    output: Mapping[str, Any] | None = None  # the step's JSON result, when it reported one
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    oom_killed: bool = False
    deadline_exceeded: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class Observation:
    """One look at a job's workflow. `phase` None means the workflow no longer exists."""

    job_id: str
    workflow_name: str
    phase: Phase | None
    steps: Mapping[str, StepObservation] = dataclasses.field(default_factory=dict)
    message: str | None = None
    stopping: bool = False  # a shutdown was requested and is under way
    deadline_exceeded: bool = False  # the workflow as a whole ran out of time
    stop_reason: str | None = None  # why the engine itself ended the workflow, if it did
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    filter_planned: bool = False  # a filtering step follows a successful algorithm
    released: bool = False  # handed to the engine's own clean-up once the job's end was stored

    @property
    def deleted(self) -> bool:
        return self.phase is None

    @property
    def finished(self) -> bool:
        return self.phase is not None and self.phase.is_done

    def step(self, name: str) -> StepObservation | None:
        return self.steps.get(name)
