"""The chart installed for real: `helm install --wait` of charts/operator-argo with the image
built here. Its migrate hook Job ran against the database behind a Service, the Deployment is
Ready (its probes pass), and the operator pod runs as the chart's own ServiceAccount."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.cluster.control_plane import request_json
from tests.cluster.node import Node
from tests.node.conftest import NAMESPACE, database_rows
from tests.node.harness import InstalledOperator, pods


def operator_pod(node: Node, installed: InstalledOperator) -> dict[str, Any]:
    selector = f"app.kubernetes.io/instance={installed.release},app.kubernetes.io/component=server"
    (pod,) = pods(node.plane, NAMESPACE, selector)
    return pod


def test_the_migrate_hook_created_the_schema(
    installed: InstalledOperator, node_database: tuple[str, str], postgres_server: Any
) -> None:
    # Hook Jobs are deleted once they succeed; `helm install --wait` fails unless they did.
    tables = database_rows(
        postgres_server,
        node_database[1],
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    )
    assert {"jobs", "nonces"} <= {name for (name,) in tables}


def test_the_deployment_is_ready_and_runs_as_the_charts_service_account(
    installed: InstalledOperator, node: Node
) -> None:
    name = f"{installed.release}-operator-argo"
    deployment = request_json(
        node.plane, "GET", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}"
    )
    assert deployment["status"]["readyReplicas"] == 1  # type: ignore[index]
    pod = operator_pod(node, installed)
    assert pod["spec"]["serviceAccountName"] == name
    (container,) = pod["spec"]["containers"]
    assert container["image"] == installed.values["image"]["repository"] + ":" + str(
        installed.values["image"]["tag"]
    )
    context = pod["spec"]["securityContext"]
    assert context["runAsNonRoot"] is True and context["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_service_answers_on_its_node_port(installed: InstalledOperator) -> None:
    with urllib.request.urlopen(installed.url + "/readyz", timeout=10) as response:
        assert response.status == 200
    with urllib.request.urlopen(installed.url + "/api/v1/operator/environments", timeout=10) as r:
        environments = json.loads(r.read())
    assert {env["id"] for env in environments} == {
        env["id"] for env in installed.values["environments"]
    }
    assert all(env["consumerAddress"].startswith("0x") for env in environments)
