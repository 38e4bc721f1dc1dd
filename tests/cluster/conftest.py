"""Collect the real-cluster tests only when the run asks for them with ``--kube=real|argo``.

``--kube=real`` runs the API-server tests (stages 1 and 2); ``--kube=argo`` adds the tests that
need Argo's controller and kwok (stage 3, test_cluster_argo.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

NEEDS_ARGO = "test_cluster_argo.py"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Keep the default (fake) run free of tests that need the built control plane."""
    if not collection_path.name.startswith("test_"):
        return None
    backend = config.getoption("kube", default="fake")
    if backend == "fake" or (collection_path.name == NEEDS_ARGO and backend != "argo"):
        return True
    return None
