"""Fixtures of the service tests: settings with small environments, jobs with fresh ids."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from operator_argo.config import Settings
from operator_argo.domain.environment import Environment
from operator_argo.domain.job import (
    Address,
    AlgorithmSpec,
    ContainerSpec,
    InputSpec,
    JobId,
    JobSpec,
    NewJob,
)

SPEC = JobSpec(
    inputs=(InputSpec(index=0, did="did:op:aa", urls=("http://127.0.0.1:1/a.csv",)),),
    algorithm=AlgorithmSpec(
        did=None,
        container=ContainerSpec(entrypoint="python $ALGO", image="python"),
        rawcode="print(1)",
    ),
)


def new_job(environment: str = "env-a", **overrides: Any) -> NewJob:
    fields: dict[str, Any] = {
        "job_id": JobId(uuid.uuid4().hex),
        "owner": Address("0x" + "ab" * 20),
        "agreement_id": f"agr-{uuid.uuid4().hex}",
        "environment": environment,
        "spec": SPEC,
    }
    return NewJob(**(fields | overrides))


@pytest.fixture
def service_settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(
        environments=(
            Environment(id="env-a", namespace="ns-a", max_jobs=2, max_job_duration=60),
            Environment(id="env-b", namespace="ns-b", max_jobs=1, max_job_duration=60),
        ),
        scheduler_interval=0.05,
    )
