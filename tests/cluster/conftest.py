"""Collect the real-cluster tests only when the run asks for them with ``--kube=real``.

``--kube=real`` runs the API-server tests (stages 1 and 2) here; the node stage (real pods on a
real single-node cluster, ``--kube=node``) lives in tests/node.
"""

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
