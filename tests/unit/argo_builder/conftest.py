"""Fixtures for the workflow builder tests: a job, an environment and settings to build from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from argo_builder_support import JOB_ID, NOW

from operator_argo.config import Settings
from operator_argo.domain.environment import Environment, KeySource
from operator_argo.domain.job import Job
from operator_argo.engines.argo.builder import build_workflow
from tests.kit.factories import job_from_example


@pytest.fixture
def environment() -> Environment:
    return Environment(
        id="ocean-compute",
        namespace="compute-jobs",
        cpu_number=2,
        ram_gb=3,
        disk_gb=7,
        max_job_duration=3600,
        key=KeySource(secret_name="env-key", secret_key="pk"),
    )


@pytest.fixture
def settings() -> Settings:
    return Settings(configure_timeout=111, publish_timeout=222, step_image="registry.local/op:9")


@pytest.fixture
def make_job() -> Callable[..., Job]:
    """A Job from the published-algorithm example, with request fields overridden."""

    def make(**overrides: Any) -> Job:
        return job_from_example(job_id=JOB_ID, now=NOW, **overrides)

    return make


@pytest.fixture
def job(make_job: Callable[..., Job]) -> Job:
    return make_job()


@pytest.fixture
def build(job: Job, environment: Environment, settings: Settings) -> Callable[..., dict[str, Any]]:
    """build_workflow with the fixtures as defaults and NOW as the clock."""

    def run(**overrides: Any) -> dict[str, Any]:
        return build_workflow(
            overrides.get("job", job),
            overrides.get("environment", environment),
            overrides.get("settings", settings),
            now=overrides.get("now", NOW),
        )

    return run
