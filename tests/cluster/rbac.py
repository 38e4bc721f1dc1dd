"""The chart's RBAC on a real API server: render with helm, apply, mint account tokens."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import urllib.error
from pathlib import Path
from typing import Any

import yaml

from tests.cluster.control_plane import CACHE_ROOT, ControlPlane, request_json

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "operator-argo"
RBAC_TEMPLATES = ("templates/serviceaccount.yaml", "templates/rbac.yaml")
# Where each kind the chart's RBAC templates produce is created (namespaced: {ns}).
COLLECTIONS = {
    "Namespace": "/api/v1/namespaces",
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "Secret": "/api/v1/namespaces/{ns}/secrets",  # the executor's token Secret
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
}


def helm_binary() -> str:
    """HELM_BIN, the cached binary of scripts/install-helm.sh, or helm on PATH; else fail."""
    candidates = [os.environ.get("HELM_BIN", ""), str(CACHE_ROOT / "bin" / "helm")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    found = shutil.which("helm")
    if found is None:
        raise RuntimeError("helm not found: run scripts/install-helm.sh (or set HELM_BIN)")
    return found


def jobs_in(*namespaces: str) -> dict[str, Any]:
    """Chart values with one environment (the chart's default one) per namespace. The results
    go to S3: the chart keeps local result storage to the release's own namespace."""
    default = yaml.safe_load((CHART / "values.yaml").read_text())["environments"][0]
    return {
        "environments": [default | {"id": ns, "namespace": ns} for ns in namespaces],
        "storage": {"backend": "s3", "s3": {"bucket": "results"}},
    }


def render_rbac(release: str, namespace: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """``helm template`` the chart's service account and RBAC templates into objects."""
    argv = [helm_binary(), "template", release, str(CHART), "--namespace", namespace, "-f", "-"]
    for template in RBAC_TEMPLATES:
        argv += ["--show-only", template]
    rendered = subprocess.run(
        argv, input=yaml.safe_dump(values), capture_output=True, text=True, check=False
    )
    if rendered.returncode != 0:
        raise RuntimeError(f"helm template failed: {rendered.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


def apply_objects(plane: ControlPlane, objects: list[dict[str, Any]]) -> None:
    """Create each object; one already there (409) is left as it is."""
    for obj in objects:
        kind = obj["kind"]
        if kind not in COLLECTIONS:
            raise ValueError(
                f"the RBAC render holds a {kind}: teach tests/cluster/rbac.py about it"
            )
        path = COLLECTIONS[kind].format(ns=obj["metadata"].get("namespace", ""))
        try:
            request_json(plane, "POST", path, obj)
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise


def ensure_namespaces(plane: ControlPlane, *names: str) -> None:
    apply_objects(
        plane,
        [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in names],
    )


def request_token(plane: ControlPlane, namespace: str, account: str, seconds: int = 3600) -> str:
    """A bound token for ``namespace/account`` from the TokenRequest API (as a pod would get)."""
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": seconds},
    }
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token"
    answer = request_json(plane, "POST", path, body)
    return str(answer["status"]["token"])  # type: ignore[index]


def can_i(plane: ControlPlane, token: str, verb: str, resource: str, namespace: str) -> bool:
    """SelfSubjectAccessReview as the token's owner: may it `verb` `resource` in `namespace`?"""
    group, _, plural = resource.rpartition("/")  # "argoproj.io/workflows" or "pods"
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {
            "resourceAttributes": {
                "namespace": namespace,
                "verb": verb,
                "group": group,
                "resource": plural,
            }
        },
    }
    as_account = dataclasses.replace(plane, token=token)
    path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    answer = request_json(as_account, "POST", path, body)
    return bool(answer["status"]["allowed"])  # type: ignore[index]
