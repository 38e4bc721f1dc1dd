"""Chart test helpers: find the real helm binary and render the chart into parsed manifests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "operator-argo"
PRODUCTION_VALUES = Path(__file__).with_name("values-production.yaml")
RELEASE_NAMESPACE = "c2d-system"


def find_helm() -> str | None:
    """HELM_BIN, else the cache scripts/install-helm.sh fills, else helm on PATH."""
    explicit = os.environ.get("HELM_BIN")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    cache = Path(os.environ.get("OPERATOR_ARGO_CACHE", Path.home() / ".cache" / "operator-argo"))
    cached = cache / "bin" / "helm"
    if cached.is_file():
        return str(cached)
    return shutil.which("helm")


@pytest.fixture(scope="session")
def helm() -> str:
    path = find_helm()
    if path is None:
        pytest.fail(
            "helm binary not found: run scripts/install-helm.sh (it fills "
            "$OPERATOR_ARGO_CACHE/bin, default ~/.cache/operator-argo/bin) or set HELM_BIN",
            pytrace=False,
        )
    return path


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=120, check=False)


@dataclass(frozen=True)
class Rendered:
    """The manifests of one `helm template`, parsed."""

    docs: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def one(self, kind: str, name_suffix: str = "") -> dict[str, Any]:
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"].endswith(name_suffix)]
        assert len(found) == 1, f"expected one {kind} *{name_suffix}, got {len(found)}"
        return found[0]

    def pod_specs(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for doc in self.docs:
            if doc["kind"] in {"Deployment", "StatefulSet", "Job", "DaemonSet"}:
                yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]

    def server_env(self) -> dict[str, dict[str, Any]]:
        spec = self.one("Deployment")["spec"]["template"]["spec"]
        container = next(c for c in spec["containers"] if c["name"] == "operator")
        return {item["name"]: item for item in container["env"]}


def render(helm: str, *args: str, release: str = "c2d") -> Rendered:
    result = run_helm(helm, "template", release, str(CHART), "-n", RELEASE_NAMESPACE, *args)
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return Rendered(docs=docs)


@pytest.fixture(scope="session")
def default_render(helm: str) -> Rendered:
    return render(helm)


@pytest.fixture(scope="session")
def production_render(helm: str) -> Rendered:
    return render(helm, "-f", str(PRODUCTION_VALUES))


def settings_env(rendered: Rendered, directory: Path, **secrets: str) -> dict[str, str]:
    """The server's environment as the rendered chart gives it: plain values, the mounted
    environments file, and `secrets` standing in for the Secret references."""
    env = {n: i["value"] for n, i in rendered.server_env().items() if "value" in i}
    env_file = directory / "environments.yaml"
    config = rendered.one("ConfigMap", "-environments")
    env_file.write_text(config["data"]["environments.yaml"])
    return env | {"OPERATOR_ENVIRONMENTS": str(env_file)} | secrets
