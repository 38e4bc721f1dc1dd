"""What the node stage's tests stand on besides the cluster: the operator installed by its chart,
its database behind a Service, a file server on the node, and an HTTP client for the API.

- ``TcpToUnixProxy`` puts the session's PostgreSQL (a unix socket) on the node's address, so the
  in-cluster operator reaches it through a Service without a selector (manual endpoints).
- ``FileServer`` serves the inputs and algorithms of test jobs from the node's address: job pods
  reach it, nothing outside this machine does.
- ``install_operator`` runs ``helm install`` of charts/operator-argo with the locally built image
  and waits (``--wait``): the migrate hook Job has to complete and the Deployment to be Ready.
- ``OperatorClient`` speaks the operator's HTTP API through its NodePort on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http.server
import json
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.cluster.control_plane import ControlPlane, request_json
from tests.cluster.node import NODE_IP
from tests.cluster.rbac import CHART, helm_binary

API = "/api/v1/operator"


# --- the database, reachable from pods ---------------------------------------------------------


class TcpToUnixProxy:
    """Accept TCP connections on ``host`` and relay each to the unix socket ``path``."""

    def __init__(self, host: str, path: str) -> None:
        self.host, self.path, self.port = host, path, 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pg-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()

    def __enter__(self) -> TcpToUnixProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.port = future.result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._relay, self.host, 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for relay in list(self._relays):
            relay.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        try:
            await self._pipe(client_r, client_w)
        finally:
            self._relays.discard(task)

    async def _pipe(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_unix_connection(self.path)
        except OSError:
            client_w.close()
            return

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while chunk := await src.read(65536):
                    dst.write(chunk)
                    await dst.drain()
            dst.close()

        try:
            await asyncio.gather(pump(client_r, server_w), pump(server_r, client_w))
        finally:
            for writer in (client_w, server_w):
                writer.close()
                with contextlib.suppress(OSError, asyncio.CancelledError):
                    await writer.wait_closed()


def database_service(plane: ControlPlane, namespace: str, port: int) -> str:
    """A Service (no selector) with endpoints at the node's proxy port; returns its cluster IP."""
    name = "test-postgres"
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"ports": [{"name": "postgresql", "port": 5432, "targetPort": port}]},
    }
    created = request_json(plane, "POST", f"/api/v1/namespaces/{namespace}/services", service)
    slice_ = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": name},
        },
        "addressType": "IPv4",
        "ports": [{"name": "postgresql", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True}}],
    }
    path = f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
    request_json(plane, "POST", path, slice_)
    return str(created["spec"]["clusterIP"])  # type: ignore[index]


# --- files for job pods --------------------------------------------------------------------------


@dataclasses.dataclass
class FileServer:
    """An HTTP server on the node's address serving ``files`` (name -> bytes); 404 otherwise."""

    files: dict[str, bytes] = dataclasses.field(default_factory=dict)
    requests: list[str] = dataclasses.field(default_factory=list)
    port: int = 0

    def url(self, name: str) -> str:
        return f"http://{NODE_IP}:{self.port}/{urllib.parse.quote(name)}"

    def add(self, name: str, content: bytes) -> str:
        self.files[name] = content
        return self.url(name)

    @contextlib.contextmanager
    def running(self) -> Iterator[FileServer]:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = urllib.parse.unquote(self.path.lstrip("/").split("?")[0])
                owner.requests.append(name)
                body = owner.files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer((NODE_IP, 0), Handler)
        self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, name="file-server", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


# --- the chart ------------------------------------------------------------------------------------


def helm(
    plane: ControlPlane, *args: str, values: Mapping[str, Any] | None = None, timeout: float = 600
) -> str:
    argv = [helm_binary(), "--kubeconfig", str(plane.kubeconfig), *args]
    if values is not None:
        argv += ["-f", "-"]
    done = subprocess.run(
        argv,
        input=yaml.safe_dump(dict(values)) if values is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def chart_version() -> str:
    return str(yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"])


@dataclasses.dataclass(frozen=True)
class InstalledOperator:
    release: str
    namespace: str
    url: str  # the Service's NodePort on 127.0.0.1
    values: Mapping[str, Any]


def install_operator(
    plane: ControlPlane, *, release: str, namespace: str, values: Mapping[str, Any]
) -> InstalledOperator:
    """``helm install --wait`` the chart; return where its Service answers on this machine."""
    helm(
        plane,
        "install", release, str(CHART), "--namespace", namespace, "--create-namespace",
        "--wait", "--timeout", "8m",
        values=values,
    )  # fmt: skip
    service = request_json(
        plane, "GET", f"/api/v1/namespaces/{namespace}/services/{release}-operator-argo"
    )
    port = service["spec"]["ports"][0]["nodePort"]  # type: ignore[index]
    return InstalledOperator(release, namespace, f"http://127.0.0.1:{port}", values)


# --- the HTTP API -----------------------------------------------------------------------------


class ApiError(AssertionError):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status, self.body = status, body


@dataclasses.dataclass(frozen=True)
class OperatorClient:
    base: str

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        raw: bool = False,
    ) -> Any:
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, exc.read().decode(errors="replace")) from exc
        return payload if raw else json.loads(payload)

    def start(self, body: Mapping[str, Any]) -> str:
        (job,) = self.call("POST", f"{API}/compute", body=dict(body))
        assert job["status"] == 1, job
        return str(job["jobId"])

    def status(self, job_id: str) -> dict[str, Any]:
        (job,) = self.call("GET", f"{API}/compute", params={"jobId": job_id})
        return dict(job)

    def stop(self, job_id: str, owner: str) -> list[dict[str, Any]]:
        return list(self.call("PUT", f"{API}/compute", params={"jobId": job_id, "owner": owner}))

    def delete(self, job_id: str, owner: str) -> Any:
        return self.call("DELETE", f"{API}/compute", params={"jobId": job_id, "owner": owner})

    def result(self, job_id: str, owner: str, index: int) -> bytes:
        params = {"jobId": job_id, "owner": owner, "index": index}
        return bytes(self.call("GET", f"{API}/getResult", params=params, raw=True))

    def wait_until(
        self,
        job_id: str,
        done: Callable[[dict[str, Any]], bool],
        *,
        timeout: float,
        seen: list[int] | None = None,
    ) -> dict[str, Any]:
        """Poll the job until ``done(status)``; record each status seen in ``seen``."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.status(job_id)
            if seen is not None and (not seen or seen[-1] != job["status"]):
                seen.append(job["status"])
            if done(job):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} not done after {timeout:.0f}s: {job}")
            time.sleep(0.25)

    def wait_finished(
        self, job_id: str, *, timeout: float = 180, seen: list[int] | None = None
    ) -> dict[str, Any]:
        return self.wait_until(
            job_id, lambda job: job["dateFinished"] is not None, timeout=timeout, seen=seen
        )

    def results_by_type(self, job: Mapping[str, Any], owner: str) -> dict[str, bytes]:
        """Every result of a finished job, keyed ``type`` (outputs by ``output:<filename>``)."""
        found = {}
        for index, entry in enumerate(job["results"] or []):
            key = f"output:{entry['filename']}" if entry["type"] == "output" else entry["type"]
            found[key] = self.result(job["jobId"], owner, index)
        return found


def kubectl(plane: ControlPlane, *args: str, check: bool = True) -> str:
    from tests.cluster.node import kubectl_binary  # noqa: PLC0415

    done = subprocess.run(
        [kubectl_binary(), "--kubeconfig", str(plane.kubeconfig), *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if check and done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def workflows(plane: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    listed = request_json(
        plane, "GET", f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/workflows"
    )
    return list(listed["items"])  # type: ignore[index]


def pods(plane: ControlPlane, namespace: str, selector: str = "") -> list[dict[str, Any]]:
    query = f"?labelSelector={urllib.parse.quote(selector)}" if selector else ""
    listed = request_json(plane, "GET", f"/api/v1/namespaces/{namespace}/pods{query}")
    return list(listed["items"])  # type: ignore[index]


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value))
    return path
