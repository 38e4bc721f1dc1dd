"""The operator image, built from the project's Dockerfile without a registry, runs as it should:
as uid 10001, on a read-only root filesystem, under the node's own containerd."""

from __future__ import annotations

import uuid

import pytest

from tests.cluster.node import Node
from tests.node.harness import chart_version

IMAGE = f"localhost/operator-argo:{chart_version()}"


def run_in_image(node: Node, *command: str) -> str:
    """Run ``command`` in the operator image with its own user and a read-only root."""
    done = node.runtime.ctr(
        "run", "--rm", "--read-only", IMAGE, f"image-test-{uuid.uuid4().hex[:8]}", *command
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (("id", "-u"), "10001"),
        (("operator-argo", "--version"), f"operator-argo {chart_version()}"),
        (("operator-argo", "step", "configure", "--help"), "OPERATOR_JOB_SPEC"),
        (("operator-argo", "step", "publish", "--help"), "OPERATOR_STORAGE"),
    ],
)
def test_image_runs_as_uid_10001_on_a_read_only_root(
    node: Node, command: tuple[str, ...], expected: str
) -> None:
    assert expected in run_in_image(node, *command)


def test_image_root_filesystem_is_read_only_for_its_user(node: Node) -> None:
    out = run_in_image(node, "sh", "-c", "touch /opt/venv/x 2>&1; touch /tmp/x 2>&1; echo done")
    assert out.count("Read-only file system") == 2, out
