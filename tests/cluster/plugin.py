"""Pytest plugin: the ``--kube=fake|real`` option and fixtures for a real control plane.

Load it with ``-p tests.cluster.plugin`` (or ``pytest_plugins`` in the root conftest). With
``--kube=real`` the session starts one etcd + kube-apiserver (see control_plane.py) on first use;
each test gets its own namespace. The binaries must have been built by tests/cluster/build.sh:
a missing binary fails the test with the command to run, it never skips.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.cluster.real_kube import RealKube

from tests.cluster.control_plane import ControlPlane, request_json, running_control_plane

KUBE_OPTION = "--kube"
# The namespaces of tests/fakes/kube.py's kube_settings environments; created once per session.
STANDARD_NAMESPACES = ("ocean-compute", "gpu-jobs")
FAKE_ONLY = "kube_fake_only"
_DESELECTED = pytest.StashKey[list[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        KUBE_OPTION,
        choices=("fake", "real", "node"),
        default="fake",
        help="Kubernetes API for integration tests: the in-process fake (default), a real "
        "kube-apiserver + etcd (tests/cluster/build.sh), or a whole real single-node cluster "
        "with Argo, where tests/node runs real jobs in real pods (tests/cluster/node.py)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{FAKE_ONLY}: needs a control only the in-process fake has (injected failures, cut "
        "watches, forced compaction); deselected, and listed, under --kube=real",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under --kube=real, deselect the fake-only tests, visibly (pytest reports 'deselected')."""
    if kube_backend(config) == "fake":
        return
    fake_only = [item for item in items if item.get_closest_marker(FAKE_ONLY)]
    if fake_only:
        config.hook.pytest_deselected(items=fake_only)
        items[:] = [item for item in items if not item.get_closest_marker(FAKE_ONLY)]
        config.stash[_DESELECTED] = [item.nodeid for item in fake_only]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    deselected = config.stash.get(_DESELECTED, [])
    if deselected:
        terminalreporter.write_line(f"--kube=real: {len(deselected)} fake-only tests not run:")
        for nodeid in deselected:
            terminalreporter.write_line(f"  {nodeid}")


def kube_backend(config: pytest.Config) -> str:
    """Which Kubernetes API the run uses: "fake", "real" or "node" (a whole real cluster)."""
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


@pytest.fixture
def real_kube_driver(real_kube: ControlPlane) -> Iterator[RealKube]:
    """FakeKube's controls over the real server; workflows and pods are removed afterwards."""
    from tests.cluster.real_kube import RealKube  # noqa: PLC0415 (imports the fake: only on use)

    driver = RealKube(real_kube, STANDARD_NAMESPACES)
    yield driver
    driver.delete_all()


@pytest.fixture
async def kube_under_test(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """The Kubernetes API the run chose: a started FakeKube, or RealKube over the real server.

    Both offer the same controls; an Argo test suite switches backends with one fixture:
    ``@pytest.fixture`` ``def fake_kube(kube_under_test): return kube_under_test``.
    """
    if kube_backend(request.config) != "fake":
        yield request.getfixturevalue("real_kube_driver")
        return
    from tests.fakes.kube import FakeKube  # noqa: PLC0415 (the fake imports the product)

    kube = FakeKube(bookmark_interval=0.2)
    await kube.start()
    yield kube
    await kube.stop()
