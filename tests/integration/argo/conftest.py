"""Fixtures for the Argo engine tests: the Kubernetes API chosen by `--kube` (the in-process fake
by default, or a real kube-apiserver), and clients pointed at it."""

from typing import Any

import pytest

from tests.fakes.kube import kube_client, kube_settings

__all__ = ["kube_client", "kube_settings"]


@pytest.fixture
def fake_kube(kube_under_test: Any) -> Any:
    """The API under test: the fake, or (`--kube=real`) a driver with its controls over the real
    API server."""
    return kube_under_test
