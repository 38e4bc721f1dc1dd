"""Fixtures of the service tests: settings with two small environments."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from operator_argo.config import Settings
from operator_argo.domain.environment import Environment


@pytest.fixture
def service_settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(
        environments=(
            Environment(id="env-a", namespace="ns-a", max_jobs=2, max_job_duration=60),
            Environment(id="env-b", namespace="ns-b", max_jobs=1, max_job_duration=60),
        ),
        scheduler_interval=0.05,
    )
