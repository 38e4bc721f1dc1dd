"""Fixtures for result storage: a moto S3 server (own venv, own process) and a fake IPFS node."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.ipfs import fake_ipfs
from tests.fakes.s3server import S3Server, running_s3_server

__all__ = ["fake_ipfs"]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One moto S3 server for the session (its venv is created on first use)."""
    with running_s3_server() as server:
        yield server
