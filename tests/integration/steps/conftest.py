"""Fixtures for the step programs: the fake Ocean world, a fake IPFS node, job folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.ipfs import fake_ipfs
from tests.fakes.ocean import ocean
from tests.integration.steps.stepkit import JobDirs, job_dirs_in

__all__ = ["fake_ipfs", "ocean"]


@pytest.fixture
def job_dirs(tmp_path: Path) -> JobDirs:
    return job_dirs_in(tmp_path)
