"""The fake API's test controls (tests/fakes/kube.py FakeKube), played against a real API server.

``RealKube`` has FakeKube's controller surface: ``write_kubeconfig``, ``workflow``, ``mutate``,
``set_step``, ``finish``, ``delete_behind``, ``add_workflow``, ``add_pod``, ``wait_watches``,
``open_watches``. Writes go through the real API (so the real server assigns resourceVersions,
sends the watch events and enforces its rules); ``set_step`` and ``finish`` reuse the fake's own
node builders, so both backends write identical Argo status objects. Controls that only a fake
can have (injected failures, cut watches, forced compaction, hand-made events) raise
``FakeOnlyControl``: tests that need them belong to the fake backend.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn

from tests.cluster.control_plane import ControlPlane, request_json, write_kubeconfig
from tests.fakes.kube import FakeKube

WORKFLOWS = "/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflows"
WATCH_METRICS = re.compile(
    r"^(apiserver_longrunning_requests|apiserver_request_total)\{([^}]*)\} ([0-9.e+]+)$", re.M
)


class FakeOnlyControl(RuntimeError):
    """A control a real API server cannot offer; the test must run with --kube=fake."""


class RealKube:
    """Test controls over a real kube-apiserver, shaped like FakeKube's."""

    set_step = FakeKube.set_step
    finish = FakeKube.finish

    def __init__(self, plane: ControlPlane, namespaces: Iterable[str] = ()) -> None:
        self.plane = plane
        self.url = plane.server
        self.namespaces = set(namespaces)
        for namespace in self.namespaces:
            self.ensure_namespace(namespace)
        self._watch_baseline = self._watch_total()

    # --- plumbing ----------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: object = None) -> dict[str, Any]:
        result = request_json(self.plane, method, path, body)
        return result if isinstance(result, dict) else {}

    def ensure_namespace(self, namespace: str) -> None:
        """Create ``namespace`` unless it exists (the fake accepts any namespace; a server not)."""
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        try:
            self._call("POST", "/api/v1/namespaces", body)
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise
        self.namespaces.add(namespace)

    def write_kubeconfig(self, path: Path) -> Path:
        return write_kubeconfig(
            path,
            server=self.plane.server,
            ca_file=self.plane.ca_file,
            token=self.plane.token,
            user="admin",
        )

    # --- workflows ---------------------------------------------------------------------------
    @property
    def workflows(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Every workflow in the known namespaces, keyed like FakeKube.workflows (a snapshot)."""
        found = {}
        for namespace in sorted(self.namespaces):
            for item in self._call("GET", WORKFLOWS.format(ns=namespace)).get("items", []):
                found[(namespace, item["metadata"]["name"])] = item
        return found

    def workflow(self, namespace: str, name: str) -> dict[str, Any]:
        return self._call("GET", f"{WORKFLOWS.format(ns=namespace)}/{name}")

    def mutate(self, namespace: str, name: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Read, change and replace the workflow (optimistic concurrency, retried on 409)."""
        for _ in range(5):
            obj = self.workflow(namespace, name)
            change(obj)
            try:
                self._call("PUT", f"{WORKFLOWS.format(ns=namespace)}/{name}", obj)
                return
            except urllib.error.HTTPError as exc:
                if exc.code != 409:
                    raise
        raise RuntimeError(f"workflow {namespace}/{name} kept changing under mutate()")

    def delete_behind(self, namespace: str, name: str) -> None:
        self._call("DELETE", f"{WORKFLOWS.format(ns=namespace)}/{name}")

    def add_workflow(self, namespace: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        self.ensure_namespace(namespace)
        return self._call("POST", WORKFLOWS.format(ns=namespace), dict(obj))

    def add_pod(
        self, namespace: str, name: str, *, labels: Mapping[str, str] | None = None, log: str = ""
    ) -> None:
        """Create a pod object. Without a kubelet it stays Pending and has no log to read."""
        if log:
            raise FakeOnlyControl("a real API server serves pod logs only from a kubelet")
        self.ensure_namespace(namespace)
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": dict(labels or {})},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]},
        }
        self._call("POST", f"/api/v1/namespaces/{namespace}/pods", pod)

    def delete_all(self) -> None:
        """Remove every workflow and pod in the known namespaces (between tests)."""
        for namespace in sorted(self.namespaces):
            self._call("DELETE", WORKFLOWS.format(ns=namespace))
            self._call("DELETE", f"/api/v1/namespaces/{namespace}/pods")

    # --- watches (counted from the API server's own metrics) ---------------------------------
    def _watch_total(self) -> tuple[int, int]:
        """(watches open now, watches finished) on workflows, from /metrics."""
        context = ssl.create_default_context(cafile=str(self.plane.ca_file))
        request = urllib.request.Request(
            self.plane.server + "/metrics", headers={"Authorization": f"Bearer {self.plane.token}"}
        )
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            text = response.read().decode()
        open_now = finished = 0
        for metric, labels, value in WATCH_METRICS.findall(text):
            if 'resource="workflows"' not in labels or 'verb="WATCH"' not in labels:
                continue
            if metric == "apiserver_longrunning_requests":
                open_now += int(float(value))
            else:
                finished += int(float(value))
        return open_now, finished

    @property
    def watch_count(self) -> int:
        """Workflow watches served since this object was made (open or finished)."""
        open_now, finished = self._watch_total()
        return open_now + finished - self._watch_baseline[0] - self._watch_baseline[1]

    def open_watches(self) -> int:
        return self._watch_total()[0]

    async def wait_watches(self, count: int = 1, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while self.watch_count < count:
                await asyncio.sleep(0.05)

    # --- controls only a fake can have ---------------------------------------------------------
    def _fake_only(self, *_: object, **__: object) -> NoReturn:
        raise FakeOnlyControl("this control needs the in-process fake: run with --kube=fake")

    fail_next = drop_watches = compact = send_bookmark = inject_event = _fake_only
