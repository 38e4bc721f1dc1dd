"""Pytest plugin: the ``--kube=fake|real`` option and fixtures for a real control plane.

Load it with ``-p tests.cluster.plugin`` (or ``pytest_plugins`` in the root conftest). With
``--kube=real`` the session starts one etcd + kube-apiserver (see control_plane.py) on first use;
each test gets its own namespace. The binaries must have been built by tests/cluster/build.sh:
a missing binary fails the test with the command to run, it never skips.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.control_plane import ControlPlane, request_json, running_control_plane

KUBE_OPTION = "--kube"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        KUBE_OPTION,
        choices=("fake", "real"),
        default="fake",
        help="Kubernetes API for integration tests: the in-process fake (default) or a real "
        "kube-apiserver + etcd built by tests/cluster/build.sh",
    )


def kube_backend(config: pytest.Config) -> str:
    """Which Kubernetes API the run uses: "fake" or "real"."""
    return str(config.getoption("kube", default="fake"))


@pytest.fixture(scope="session")
def real_kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A running etcd + kube-apiserver with Argo's CRDs; unpacks as (kubeconfig, server)."""
    with running_control_plane(tmp_path_factory.mktemp("kube")) as plane:
        yield plane


@pytest.fixture
def real_kube_namespace(real_kube: ControlPlane) -> str:
    """A fresh namespace in the real API server (left behind: no controller deletes it)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    request_json(
        real_kube,
        "POST",
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
    )
    return name


@pytest.fixture
def real_kubeconfig(real_kube: ControlPlane) -> Path:
    """Path of the admin kubeconfig (bearer token in system:masters)."""
    return real_kube.kubeconfig
