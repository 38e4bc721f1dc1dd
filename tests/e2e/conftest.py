"""End-to-end fixtures: the operator on the local engine, inputs served from 127.0.0.1."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from operator_argo.config import Settings
from operator_argo.domain.environment import Environment
from tests.fakes.ocean import FakeOcean, ocean
from tests.kit.factories import compute_body

__all__ = ["ocean"]

OWNER = "0x" + "c4" * 20


@pytest.fixture(autouse=True)
def require_bubblewrap() -> None:
    """These tests assert real isolation: the sandbox must be there (scripts/test.sh adds it)."""
    assert shutil.which("bwrap"), (
        "bubblewrap is missing: run scripts/test.sh (apt-get install bubblewrap)"
    )


@pytest.fixture
def local_settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(
        engine="local",
        scheduler_interval=0.05,
        janitor_interval=3600.0,
        configure_timeout=60,
        publish_timeout=60,
        environments=(
            Environment(
                id="ocean-compute", namespace="ocean-compute", max_jobs=2, max_job_duration=60
            ),
            Environment(id="short", namespace="short", max_jobs=2, max_job_duration=3),
        ),
    )


def job_request(
    ocean: FakeOcean,
    code: str,
    *,
    inputs: dict[str, bytes] | None = None,
    environment: str = "ocean-compute",
    algorithm_url: str | None = None,
    input_urls: list[str] | None = None,
) -> dict[str, Any]:
    """A POST /compute body with one dataset served by `ocean` and a raw Python algorithm."""
    urls = input_urls
    if urls is None:
        urls = []
        for name, content in (inputs or {"data.csv": b"1,2\n3,4\n"}).items():
            key = f"{uuid.uuid4().hex}-{name}"
            ocean.files[key] = content
            urls.append(ocean.file_url(key))
    return compute_body(
        urls, owner=OWNER, environment=environment, code=code, algorithm_url=algorithm_url
    )


def results_dir_of(settings: Settings, job_id: str) -> Path:
    return settings.results_dir / job_id
