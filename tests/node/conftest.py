"""Fixtures of the node stage: a real single-node cluster, the operator installed by its chart.

Collected only with ``--kube=node``. One cluster, one database and one chart install serve the
whole session (starting them takes about a minute); each test starts its own jobs. A missing
piece (binary, image, Debian package) fails every test with the command that builds it.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.cluster.control_plane import ControlPlane, request_json
from tests.cluster.node import (
    ALGORITHM_IMAGE,
    NODE_IP,
    NODE_NAME,
    RUNTIME_CLASS,
    STORAGE_CLASS,
    Node,
    running_node,
)
from tests.kit.factories import compute_body
from tests.node.harness import (
    FileServer,
    InstalledOperator,
    OperatorClient,
    TcpToUnixProxy,
    chart_version,
    database_service,
    install_operator,
)

RELEASE = "op"
NAMESPACE = "ocean-compute"  # the release's and the jobs' (local result storage shares a claim)
OWNER = "0x" + "c4" * 20
ENV_KEY = secrets.token_hex(32)
# The filter removes every output whose name starts with "secret" and says what it kept.
FILTER = (
    "import pathlib\n"
    "for path in pathlib.Path('.').iterdir():\n"
    "    if path.name.startswith('secret'):\n"
    "        path.unlink()\n"
    "print('kept', sorted(p.name for p in pathlib.Path('.').iterdir()))\n"
)
# Environments of the test install: limits small enough to hit on purpose. No CPU request
# (cpuNumber 0): the node has two cores, and jobs of several environments run side by side.
ENVIRONMENTS = [
    {"id": "ocean-compute", "maxJobs": 4, "maxJobDuration": 120},
    {"id": "short", "maxJobs": 4, "maxJobDuration": 8},
    {"id": "interactive", "maxJobs": 4, "maxJobDuration": 300},
    {"id": "open", "maxJobs": 2, "maxJobDuration": 120, "allowNetwork": True},
    # Placement and a filtering step, as a data owner would set them up.
    {
        "id": "filtered",
        "maxJobs": 2,
        "maxJobDuration": 120,
        "runtimeClassName": RUNTIME_CLASS,
        "nodeSelector": {"kubernetes.io/hostname": NODE_NAME},
        "filter": {"image": ALGORITHM_IMAGE, "command": ["python3", "-c", FILTER], "timeout": 60},
    },
]


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """These tests need the whole cluster: only ``--kube=node`` collects them."""
    if collection_path.name.startswith("test_") and config.getoption("kube") != "node":
        return True
    return None


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with running_node(tmp_path_factory.mktemp("node")) as running:
        yield running


@pytest.fixture(scope="session")
def files(node: Node) -> Iterator[FileServer]:
    with FileServer().running() as server:
        yield server


@pytest.fixture(scope="session")
def node_database(node: Node, postgres_server: Any) -> Iterator[tuple[str, str]]:
    """A database of the session's PostgreSQL, on the node's address; (cluster IP, name)."""
    name = postgres_server.create_database()
    socket = os.path.join(postgres_server.host, f".s.PGSQL.{postgres_server.port}")
    with TcpToUnixProxy(NODE_IP, socket) as proxy:
        request = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        request_json(node.plane, "POST", "/api/v1/namespaces", request)
        yield database_service(node.plane, NAMESPACE, proxy.port), name
    postgres_server.drop_database(name)


def chart_values(plane: ControlPlane, database_ip: str, database: str) -> dict[str, Any]:
    # kube-router enforces the chart's NetworkPolicies here: job pods may reach the API server
    # (Argo's wait container reports through it) only at its real address and port.
    api_port = int(plane.server.rsplit(":", 1)[1])
    return {
        "networkPolicy": {"kubernetesApi": {"cidrs": [f"{NODE_IP}/32"], "ports": [api_port]}},
        "image": {
            "repository": "localhost/operator-argo",
            "tag": chart_version(),
            "pullPolicy": "IfNotPresent",
        },
        "service": {"type": "NodePort"},
        "operator": {
            "schedulerInterval": 0.2,
            "resyncInterval": 30,
            "configureTimeout": 120,
            "publishTimeout": 120,
            "startGrace": 5,
        },
        "postgresql": {"host": database_ip, "database": database, "password": secrets.token_hex(8)},
        "environments": [
            {
                "namespace": NAMESPACE,
                "cpuNumber": 0,
                "ramGB": 1,
                "diskGB": 1,
                "allowNetwork": False,
                "key": {"privateKey": ENV_KEY},
                **environment,
            }
            for environment in ENVIRONMENTS
        ],
        "storage": {
            "backend": "local",
            "local": {
                "persistence": {"enabled": True, "size": "1Gi", "storageClass": STORAGE_CLASS}
            },
        },
        "logging": {"format": "json", "level": "info"},
    }


@pytest.fixture(scope="session")
def installed(node: Node, node_database: tuple[str, str]) -> InstalledOperator:
    return install_operator(
        node.plane,
        release=RELEASE,
        namespace=NAMESPACE,
        values=chart_values(node.plane, *node_database),
    )


@pytest.fixture(scope="session")
def api(installed: InstalledOperator) -> OperatorClient:
    return OperatorClient(installed.url)


def database_rows(postgres_server: Any, database: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(postgres_server.conninfo(database)) as conn:
        return list(conn.execute(query).fetchall())


def job_body(
    files: FileServer,
    *,
    code: str | None = None,
    algorithm_url: str | None = None,
    inputs: list[str] | None = None,
    environment: str = "ocean-compute",
    image: str = ALGORITHM_IMAGE,
    entrypoint: str = "python $ALGO",
) -> dict[str, Any]:
    """A POST /compute body: one dataset (``inputs``: URLs on the node) and an algorithm."""
    if inputs is None:
        inputs = [files.add(f"{uuid.uuid4().hex}.csv", b"1,2\n3,4\n")]
    repository, _, tag = image.rpartition(":")
    return compute_body(
        inputs,
        owner=OWNER,
        environment=environment,
        namespace=NAMESPACE,
        code=code or "",
        algorithm_url=algorithm_url,
        image=repository,
        tag=tag,
        entrypoint=entrypoint,
    )
