"""Stage 3: Argo's real workflow-controller and a kwok fake node on the test control plane.

Argo's controller creates the job pods; nothing schedules or runs them. The harness plays the
missing pieces the way they behave in a cluster: ``PodPlayer`` binds each new job pod to the
kwok node (the scheduler's part) after writing the exit code the test chose for its template
into an annotation; kwok's stages make the pod Running and then end it with that code (see
kwok-stage-argo-exit.yaml); when the pod has ended, the player writes the WorkflowTaskResult
that Argo's ``wait`` sidecar would write (output parameter ``result`` and completion label).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tests.cluster.control_plane import (
    CACHE_ROOT,
    ControlPlane,
    ControlPlaneError,
    request_json,
    spawn,
    stop_process,
)

ARGO_VERSION = os.environ.get("ARGO_VERSION", "v4.0.5")
KWOK_VERSION = os.environ.get("KWOK_VERSION", "v0.8.0")
BUILD_SCRIPT = Path(__file__).with_name("build-argo.sh")
EXIT_STAGE = Path(__file__).with_name("kwok-stage-argo-exit.yaml")
EXIT_CODE = "operator-argo.test/exit-code"
NODE = "kwok-node-0"
CONTROLLER_NS = "argo"
WORKFLOWS = "/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflows"
TASK_RESULTS = "/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflowtaskresults"


def argo_dir() -> Path:
    """The cache directory with workflow-controller, kwok and kwok's stages; fail if not built."""
    out = CACHE_ROOT / "cluster" / f"argo-{ARGO_VERSION}-kwok-{KWOK_VERSION}"
    if not all((out / "bin" / n).is_file() for n in ("workflow-controller", "kwok")):
        raise ControlPlaneError(f"Argo binaries missing in {out}: run {BUILD_SCRIPT} first")
    return out


def _post(plane: ControlPlane, path: str, body: Mapping[str, Any]) -> None:
    try:
        request_json(plane, "POST", path, dict(body))
    except urllib.error.HTTPError as exc:
        if exc.code != 409:
            raise


def _prepare(plane: ControlPlane, namespaces: tuple[str, ...]) -> None:
    for ns in (CONTROLLER_NS, *namespaces):
        _post(plane, "/api/v1/namespaces", {"metadata": {"name": ns}})
        # No controller manager: the default service accounts pods need are made here.
        _post(plane, f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "default"}})
    _post(
        plane,
        f"/api/v1/namespaces/{CONTROLLER_NS}/configmaps",
        {"metadata": {"name": "workflow-controller-configmap"}, "data": {}},
    )
    node = {
        "metadata": {
            "name": NODE,
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {"kubernetes.io/hostname": NODE, "type": "kwok"},
        },
        "spec": {},
    }
    _post(plane, "/api/v1/nodes", node)


def _kwok_config(out: Path, workdir: Path) -> Path:
    stages = [*sorted((out / "kwok-stages").glob("*.yaml")), EXIT_STAGE]
    config = workdir / "kwok.yaml"
    config.write_text("\n---\n".join(path.read_text() for path in stages))
    return config


@dataclasses.dataclass
class PodPlayer:
    """Plays scheduler and wait sidecar for job pods in ``namespaces`` (a polling thread)."""

    plane: ControlPlane
    namespaces: tuple[str, ...]
    exit_codes: dict[str, int] = dataclasses.field(default_factory=dict)  # template -> code
    results: dict[str, Any] = dataclasses.field(default_factory=dict)  # template -> output
    hold: set[str] = dataclasses.field(default_factory=set)  # templates whose pods stay unbound
    seen: list[str] = dataclasses.field(default_factory=list)  # templates bound, in order
    _done: set[str] = dataclasses.field(default_factory=set)
    _stop: threading.Event = dataclasses.field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.wait(0.2):
            for ns in self.namespaces:
                pods = request_json(self.plane, "GET", f"/api/v1/namespaces/{ns}/pods")
                for pod in pods.get("items", []):  # type: ignore[union-attr]
                    self._play(ns, pod)

    def _play(self, ns: str, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        template = self._template(ns, pod)
        if template is None or template in self.hold:
            return
        if not pod["spec"].get("nodeName"):
            code = str(self.exit_codes.get(template, 0))
            patch = {"metadata": {"annotations": {EXIT_CODE: code}}}
            _merge_patch(self.plane, f"/api/v1/namespaces/{ns}/pods/{name}", patch)
            binding = {"metadata": {"name": name}, "target": {"kind": "Node", "name": NODE}}
            _post(self.plane, f"/api/v1/namespaces/{ns}/pods/{name}/binding", binding)
            self.seen.append(template)
        elif pod["status"].get("phase") in ("Succeeded", "Failed") and name not in self._done:
            self._done.add(name)
            self._report(ns, pod, template)

    def _template(self, ns: str, pod: dict[str, Any]) -> str | None:
        """The template of the pod's node, as the controller recorded it in the workflow."""
        workflow = pod["metadata"].get("labels", {}).get("workflows.argoproj.io/workflow")
        node = _node_id(pod)
        if not workflow or not node:
            return None
        obj = request_json(self.plane, "GET", f"{WORKFLOWS.format(ns=ns)}/{workflow}")
        nodes = obj.get("status", {}).get("nodes") or {}  # type: ignore[union-attr]
        template = nodes.get(node, {}).get("templateName")
        return str(template) if template else None  # not recorded yet: next round

    def _report(self, ns: str, pod: dict[str, Any], template: str) -> None:
        meta = pod["metadata"]
        workflow = meta["labels"]["workflows.argoproj.io/workflow"]
        outputs: dict[str, Any] = {}
        if template in self.results:
            value = self.results[template]
            text = value if isinstance(value, str) else json.dumps(value)
            outputs["parameters"] = [{"name": "result", "value": text}]
        owner = next(iter(meta.get("ownerReferences", [])), None)
        result = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "WorkflowTaskResult",
            "metadata": {
                "name": _node_id(pod),
                "labels": {
                    "workflows.argoproj.io/workflow": workflow,
                    "workflows.argoproj.io/report-outputs-completed": "true",
                },
                "ownerReferences": [owner] if owner else [],
            },
            "outputs": outputs,
        }
        _post(self.plane, TASK_RESULTS.format(ns=ns), result)

    def stop(self) -> None:
        self._stop.set()


def _node_id(pod: Mapping[str, Any]) -> str | None:
    """The workflow node a job pod runs (Argo gives it to the containers as ARGO_NODE_ID)."""
    for container in pod["spec"].get("containers", []):
        for env in container.get("env", []):
            if env.get("name") == "ARGO_NODE_ID":
                return str(env["value"])
    return None


def _merge_patch(plane: ControlPlane, path: str, patch: Mapping[str, Any]) -> None:
    request = urllib.request.Request(
        plane.server + path,
        data=json.dumps(patch).encode(),
        method="PATCH",
        headers={
            "Authorization": f"Bearer {plane.token}",
            "Content-Type": "application/merge-patch+json",
        },
    )
    context = ssl.create_default_context(cafile=str(plane.ca_file))
    with urllib.request.urlopen(request, timeout=30, context=context):
        pass


@contextlib.contextmanager
def running_argo(plane: ControlPlane, namespaces: tuple[str, ...]) -> Iterator[PodPlayer]:
    """Start kwok and workflow-controller against ``plane``; yield the pod player; stop all."""
    out, workdir = argo_dir(), plane.workdir
    _prepare(plane, namespaces)
    kubeconfig = str(plane.kubeconfig)
    kwok = spawn(
        [
            str(out / "bin" / "kwok"),
            f"--kubeconfig={kubeconfig}",
            f"--config={_kwok_config(out, workdir)}",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--node-ip=127.0.0.1",
            "--server-address=127.0.0.1:0",
        ],
        workdir / "kwok.log",
    )
    controller = spawn(
        [
            str(out / "bin" / "workflow-controller"),
            f"--kubeconfig={kubeconfig}",
            f"--namespace={CONTROLLER_NS}",
            "--configmap=workflow-controller-configmap",
            f"--executor-image=quay.io/argoproj/argoexec:{ARGO_VERSION}",
            "--loglevel=info",
        ],
        workdir / "workflow-controller.log",
        env={**os.environ, "LEADER_ELECTION_DISABLE": "true"},
    )
    player = PodPlayer(plane=plane, namespaces=namespaces)
    thread = threading.Thread(target=player.run, name="pod-player", daemon=True)
    thread.start()
    try:
        yield player
    finally:
        player.stop()
        thread.join(timeout=5)
        stop_process(controller)
        stop_process(kwok)
