"""Collect the real-cluster tests only when the run asks for them with ``--kube=real``."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Keep the default (fake) run free of tests that need the built control plane."""
    if (
        collection_path.name.startswith("test_")
        and config.getoption("kube", default="fake") != "real"
    ):
        return True
    return None
