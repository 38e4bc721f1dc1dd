"""In-process fake of the Kubernetes API subset operator-argo uses, and a controller to play Argo.

Serves on 127.0.0.1 (random port) with aiohttp:
  /apis/argoproj.io/v1alpha1/namespaces/{ns}/workflows          POST, GET (list | watch=true)
  /apis/argoproj.io/v1alpha1/namespaces/{ns}/workflows/{name}   GET, PATCH (merge patch), DELETE
  /api/v1/namespaces/{ns}/pods                                    GET (list, labelSelector)
  /api/v1/namespaces/{ns}/pods/{name}/log                         GET (container, follow)
with a global increasing resourceVersion, a bounded event history (a watch from before it gets
an ERROR event with a 410 Status, a list gets HTTP 410), BOOKMARK events, 409 AlreadyExists.

Fixtures (import them into a conftest): `fake_kube` (a started FakeKube), `kube_settings`
(Settings with a kubeconfig pointing at it), `kube_client` (a connected KubeClient).
`ObservationRecorder` is a sink for engines and watchers that tests can wait on.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime as dt
import json
import uuid
import zlib
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from operator_argo.config import Settings
from operator_argo.domain.environment import Environment
from operator_argo.domain.job import Address, Job, JobId
from operator_argo.domain.names import (
    JOB_ID_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    WORKFLOW_LABEL,
    workflow_name,
)
from operator_argo.domain.observation import Observation
from tests.kit.factories import make_job
from tests.kit.kube import TestingKubeClient

TOKEN = "fake-token"
WF_PREFIX = "/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflows"
RESULT_PATH = "/tmp/operator-argo-result.json"
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "AlreadyExists",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}
_DROP = object()


def status_body(code: int, message: str, reason: str | None = None) -> dict[str, Any]:
    """A metav1.Status failure object, as the API server writes it."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or _REASONS.get(code, "Unknown"),
        "code": code,
    }


def timestamp(when: dt.datetime | None = None) -> str:
    """RFC 3339 UTC with seconds, the way Kubernetes and Argo write times."""
    return (when or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def label_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """Equality-based label selectors: `k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-separated."""
    for term in filter(None, (part.strip() for part in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def node_id(workflow: str, step: str) -> str:
    return f"{workflow}-{zlib.crc32(step.encode())}"


def pod_node(
    workflow: str,
    step: str,
    phase: str,
    *,
    exit_code: int | None = None,
    result: Any = None,
    message: str | None = None,
    started_at: str | None = None,
    finished_at: str | None = None,
) -> dict[str, Any]:
    """A Pod node as Argo writes it for template `step` (publish sits under `<wf>.onExit`)."""
    on_exit = step == "publish"
    outputs: dict[str, Any] = {}
    if exit_code is not None:
        outputs["exitCode"] = str(exit_code)
    if result is not None:
        value = result if isinstance(result, str) else json.dumps(result)
        outputs["parameters"] = [
            {"name": "result", "value": value, "valueFrom": {"path": RESULT_PATH}}
        ]
    done = phase not in ("Pending", "Running")
    node: dict[str, Any] = {
        "id": node_id(workflow, step),
        "name": f"{workflow}.onExit" if on_exit else f"{workflow}[0].{step}",
        "displayName": f"{workflow}.onExit" if on_exit else step,
        "type": "Pod",
        "templateName": step,
        "templateScope": f"local/{workflow}",
        "phase": phase,
        "boundaryID": workflow,
        "hostNodeName": "fake-node",
        "startedAt": started_at or timestamp(),
        "finishedAt": (finished_at or timestamp()) if done else None,
        "progress": "1/1" if done else "0/1",
    }
    if message:
        node["message"] = message
    if outputs:
        node["outputs"] = outputs
    return node


def sample_workflow(
    job_id: str, *, managed: bool = True, active_deadline: int | None = 3600
) -> dict[str, Any]:
    """A small hand-made Workflow of job `job_id`, named and labelled as the operator does."""
    labels = {JOB_ID_LABEL: job_id}
    if managed:
        labels[MANAGED_BY_LABEL] = MANAGED_BY
    steps = [[{"name": name, "template": name}] for name in ("configure", "algorithm")]
    templates: list[dict[str, Any]] = [{"name": "main", "steps": steps}]
    templates += [
        {"name": name, "container": {"image": "busybox", "command": ["true"]}}
        for name in ("configure", "algorithm", "publish")
    ]
    spec: dict[str, Any] = {"entrypoint": "main", "onExit": "publish", "templates": templates}
    if active_deadline is not None:
        spec["activeDeadlineSeconds"] = active_deadline
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": workflow_name(job_id), "labels": labels},
        "spec": spec,
    }


def sample_job(job_id: str = "a1" * 16, environment: str = "ocean-compute") -> Job:
    """A queued job with one URL input and raw-code algorithm, for building real workflows."""
    return make_job(environment, job_id=JobId(job_id), owner=Address("0xAbC"))


@dataclasses.dataclass
class _Failure:
    status: int
    count: int
    method: str | None
    path_contains: str | None
    message: str


@dataclasses.dataclass
class _Pod:
    """A pod the test made: its labels and its main container's log, which may still grow."""

    labels: dict[str, str]
    created: str
    log: bytearray = dataclasses.field(default_factory=bytearray)
    image_id: str | None = None  # the main container's imageID, once it has begun
    ended: bool = False
    changed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


def _pod_status(pod: _Pod) -> dict[str, Any]:
    """Argo's two containers as the kubelet reports them; imageIDs once they have begun."""
    if pod.image_id is None:
        return {"phase": "Pending"}
    wait = {"name": "wait", "image": "argoexec:test", "imageID": "sha256:" + "0" * 64}
    main = {"name": "main", "image": "algorithm:test", "imageID": pod.image_id}
    return {"phase": "Running", "containerStatuses": [wait, main]}


@dataclasses.dataclass
class _Watch:
    namespace: str
    selector: str
    queue: asyncio.Queue[Any]


class FakeKube:
    """The fake API server's state; its methods double as the test controller (playing Argo)."""

    def __init__(self, *, history_limit: int = 10_000, bookmark_interval: float = 0.5) -> None:
        self.history_limit = history_limit
        self.bookmark_interval = bookmark_interval
        self.rv = 1
        self.floor = 0  # watches from a resourceVersion below this get 410
        self.workflows: dict[tuple[str, str], dict[str, Any]] = {}
        self.history: list[tuple[int, str, str, dict[str, Any]]] = []
        self.requests: list[tuple[str, str]] = []
        self._failures: list[_Failure] = []
        self._watches: list[_Watch] = []
        self.pods: dict[tuple[str, str], _Pod] = {}
        self.log_followers = 0  # pod log requests being served now
        self._watch_opened = asyncio.Condition()
        self.watch_count = 0  # watch requests served so far
        self._transports: set[object] = set()  # every connection a request came on
        # Filler added to a create's answer: a real server answers with the stored object
        # (managed fields and all), so its answer may arrive after the client has its headers.
        self.create_padding = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    # --- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        ns = "/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflows"
        app.router.add_post(ns, self._create)
        app.router.add_get(ns, self._list_or_watch)
        app.router.add_get(ns + "/{name}", self._get)
        app.router.add_patch(ns + "/{name}", self._patch)
        app.router.add_delete(ns + "/{name}", self._delete)
        app.router.add_get("/api/v1/namespaces/{ns}/pods", self._list_pods)
        app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}/log", self._pod_log)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        self.drop_watches()
        if self._runner is not None:
            await self._runner.cleanup()

    def write_kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": TOKEN}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            "current-context": "fake",
        }
        path.write_text(json.dumps(config), encoding="utf-8")
        return path

    # --- controls --------------------------------------------------------------------------------
    def fail_next(
        self,
        count: int = 1,
        status: int = 503,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        message: str = "injected failure",
    ) -> None:
        """The next `count` matching requests answer `status` with a Status body."""
        self._failures.append(_Failure(status, count, method, path_contains, message))

    def clear_failures(self) -> None:
        """Answer every request normally again (the refusal injected with `fail_next` ends)."""
        self._failures.clear()

    def drop_watches(self) -> None:
        """Cut every open watch connection abruptly (no clean end of the chunked stream)."""
        for watch in list(self._watches):
            watch.queue.put_nowait(_DROP)

    def compact(self) -> None:
        """Forget the event history: a watch resuming from an older resourceVersion gets 410."""
        self.history.clear()
        self.floor = self.rv

    def send_bookmark(self) -> None:
        """A BOOKMARK with the current resourceVersion to every open watch (bookmarks allowed)."""
        for watch in self._watches:
            watch.queue.put_nowait(("BOOKMARK", self._bookmark()))

    def inject_event(self, namespace: str, kind: str, obj: Mapping[str, Any]) -> None:
        """Send a raw event to open watches only (for duplicate / out-of-order tests)."""
        for watch in self._watches:
            if watch.namespace == namespace:
                watch.queue.put_nowait((kind, copy.deepcopy(dict(obj))))

    async def wait_watches(self, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until at least `count` watch requests have been served in total."""
        async with asyncio.timeout(timeout), self._watch_opened:
            await self._watch_opened.wait_for(lambda: self.watch_count >= count)

    def connections(self) -> int:
        """How many connections clients opened to the fake so far."""
        return len(self._transports)

    def open_watches(self) -> int:
        return len(self._watches)

    def workflow(self, namespace: str, name: str) -> dict[str, Any]:
        return self.workflows[(namespace, name)]

    def mutate(self, namespace: str, name: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Change a stored workflow in place, as the Argo controller would (one MODIFIED)."""
        obj = copy.deepcopy(self.workflows[(namespace, name)])
        change(obj)
        self._store(namespace, obj, "MODIFIED")

    def set_step(
        self,
        namespace: str,
        name: str,
        step: str,
        phase: str,
        *,
        exit_code: int | None = None,
        result: Any = None,
        message: str | None = None,
    ) -> None:
        """Write step `step`'s Pod node (configure/algorithm/publish); workflow becomes Running."""

        def change(obj: dict[str, Any]) -> None:
            status = obj.setdefault("status", {})
            nodes = status.setdefault("nodes", {})
            old = nodes.get(node_id(name, step), {})
            nodes[node_id(name, step)] = pod_node(
                name,
                step,
                phase,
                exit_code=exit_code,
                result=result,
                message=message,
                started_at=old.get("startedAt"),
            )
            if status.get("phase") in (None, "", "Pending"):
                status["phase"] = "Running"
                status.setdefault("startedAt", timestamp())
                status.setdefault("finishedAt", None)

        self.mutate(namespace, name, change)

    def finish(self, namespace: str, name: str, phase: str, *, message: str | None = None) -> None:
        """End the workflow the way Argo does: phase, finishedAt, completed/phase labels."""

        def change(obj: dict[str, Any]) -> None:
            status = obj.setdefault("status", {})
            status.update(phase=phase, finishedAt=timestamp())
            if message:
                status["message"] = message
            labels = obj["metadata"].setdefault("labels", {})
            labels.update({"workflows.argoproj.io/completed": "true"})
            labels["workflows.argoproj.io/phase"] = phase

        self.mutate(namespace, name, change)

    def delete_behind(self, namespace: str, name: str) -> None:
        """Delete a workflow as someone else would (kubectl, TTL GC)."""
        obj = self.workflows.pop((namespace, name))
        self._record(namespace, "DELETED", obj)
        for key, pod in list(self.pods.items()):
            if key[0] == namespace and pod.labels.get(WORKFLOW_LABEL) == name:
                del self.pods[key]  # its pods go with it, and their logs end
                pod.ended = True
                pod.changed.set()

    def add_pod(
        self, namespace: str, name: str, labels: Mapping[str, str], *, image_id: str | None = None
    ) -> None:
        """A pod as Argo's controller would create it for a step, its log empty; `image_id`: its
        main container has begun from that image (the kubelet then reports it)."""
        self.pods[(namespace, name)] = _Pod(dict(labels), timestamp(), image_id=image_id)

    def write_log(self, namespace: str, pod: str, data: bytes, *, end: bool = False) -> None:
        """Append to the pod's main container log; `end`: the container has ended."""
        found = self.pods[(namespace, pod)]
        found.log += data
        found.ended = found.ended or end
        found.changed.set()

    def add_workflow(self, namespace: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create a workflow behind the client's back (ADDED)."""
        return self._store(namespace, self._new_object(namespace, dict(obj)), "ADDED")

    # --- state -----------------------------------------------------------------------------------
    def _bookmark(self) -> dict[str, Any]:
        return {
            "kind": "Workflow",
            "apiVersion": "argoproj.io/v1alpha1",
            "metadata": {"resourceVersion": str(self.rv)},
        }

    def _new_object(self, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.update(namespace=namespace, uid=str(uuid.uuid4()), generation=1)
        meta["creationTimestamp"] = timestamp()
        return obj

    def _store(self, namespace: str, obj: dict[str, Any], kind: str) -> dict[str, Any]:
        name = obj["metadata"]["name"]
        self.workflows[(namespace, name)] = obj
        self._record(namespace, kind, obj)
        return obj

    def _record(self, namespace: str, kind: str, obj: dict[str, Any]) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        snapshot = copy.deepcopy(obj)
        self.history.append((self.rv, namespace, kind, snapshot))
        if len(self.history) > self.history_limit:
            dropped = self.history.pop(0)
            self.floor = dropped[0]
        for watch in self._watches:
            if watch.namespace == namespace:
                watch.queue.put_nowait((kind, snapshot))

    # --- HTTP ----------------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        self._transports.add(request.transport)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _status(401, "no valid bearer token")
        for failure in self._failures:
            wanted = failure.path_contains is None or failure.path_contains in request.path_qs
            if failure.count > 0 and failure.method in (None, request.method) and wanted:
                failure.count -= 1
                return _status(failure.status, failure.message)
        response: web.StreamResponse = await handler(request)
        return response

    async def _create(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        try:
            body = await request.json()
        except ValueError:
            return _status(400, "the body is not JSON")
        name = (body.get("metadata") or {}).get("name") if isinstance(body, dict) else None
        if not name or body.get("kind") != "Workflow":
            return _status(422, "Workflow.metadata.name: Required value")
        if (ns, name) in self.workflows:
            message = f'workflows.argoproj.io "{name}" already exists'
            return _status(409, message)
        obj = self._store(ns, self._new_object(ns, body), "ADDED")
        if self.create_padding:
            return web.json_response(obj | {"padding": "x" * self.create_padding}, status=201)
        return web.json_response(obj, status=201)

    def _found(self, request: web.Request) -> dict[str, Any] | web.Response:
        key = (request.match_info["ns"], request.match_info["name"])
        if key not in self.workflows:
            return _status(404, f'workflows.argoproj.io "{key[1]}" not found')
        return self.workflows[key]

    async def _get(self, request: web.Request) -> web.Response:
        found = self._found(request)
        return found if isinstance(found, web.Response) else web.json_response(found)

    async def _patch(self, request: web.Request) -> web.Response:
        if request.content_type != "application/merge-patch+json":
            return _status(415, f"unsupported patch type {request.content_type}")
        found = self._found(request)
        if isinstance(found, web.Response):
            return found
        patch = await request.json()
        obj = merge_patch(found, patch)
        obj["metadata"]["generation"] = int(found["metadata"].get("generation", 1)) + 1
        return web.json_response(self._store(request.match_info["ns"], obj, "MODIFIED"))

    async def _delete(self, request: web.Request) -> web.Response:
        found = self._found(request)
        if isinstance(found, web.Response):
            return found
        self.delete_behind(request.match_info["ns"], request.match_info["name"])
        return web.json_response(found)

    async def _list_or_watch(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") in ("true", "True", "1"):
            return await self._watch(request)
        ns, selector = request.match_info["ns"], request.query.get("labelSelector", "")
        wanted = request.query.get("resourceVersion", "")
        if wanted not in ("", "0") and int(wanted) < self.floor:
            return _status(410, "too old resource version", "Expired")
        items = [
            obj
            for (space, _), obj in sorted(self.workflows.items())
            if space == ns and label_matches(selector, obj["metadata"].get("labels", {}))
        ]
        return web.json_response(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "WorkflowList",
                "metadata": {"resourceVersion": str(self.rv)},
                "items": items,
            }
        )

    async def _list_pods(self, request: web.Request) -> web.Response:
        ns, selector = request.match_info["ns"], request.query.get("labelSelector", "")
        items = [
            {
                "metadata": {"name": name, "labels": pod.labels, "creationTimestamp": pod.created},
                "status": _pod_status(pod),
            }
            for (space, name), pod in sorted(self.pods.items())
            if space == ns and label_matches(selector, pod.labels)
        ]
        return web.json_response({"apiVersion": "v1", "kind": "PodList", "items": items})

    async def _pod_log(self, request: web.Request) -> web.StreamResponse:
        pod = self.pods.get((request.match_info["ns"], request.match_info["name"]))
        if pod is None or request.query.get("container") != "main":
            return _status(404, f'pods "{request.match_info["name"]}" not found')
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        follow = request.query.get("follow") in ("true", "True", "1")
        sent = 0
        self.log_followers += 1
        try:
            while True:
                pod.changed.clear()
                if len(pod.log) > sent:
                    await response.write(bytes(pod.log[sent:]))
                    sent = len(pod.log)
                if pod.ended or not follow:
                    break
                await pod.changed.wait()
        finally:
            self.log_followers -= 1
        await response.write_eof()
        return response

    def _backlog(self, ns: str, selector: str, since: str) -> list[tuple[str, dict[str, Any]]]:
        if since in ("", "0"):
            return [
                ("ADDED", copy.deepcopy(obj))
                for (space, _), obj in sorted(self.workflows.items())
                if space == ns
            ]
        start = int(since)
        return [(kind, obj) for rv, space, kind, obj in self.history if rv > start and space == ns]

    async def _watch(self, request: web.Request) -> web.StreamResponse:
        ns, selector = request.match_info["ns"], request.query.get("labelSelector", "")
        since = request.query.get("resourceVersion", "")
        timeout = float(request.query.get("timeoutSeconds", "1800"))
        bookmarks = request.query.get("allowWatchBookmarks") in ("true", "True", "1")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        async with self._watch_opened:
            self.watch_count += 1
            self._watch_opened.notify_all()
        if since not in ("", "0") and int(since) < self.floor:
            gone = status_body(410, f"too old resource version: {since} ({self.floor})", "Expired")
            await _write(response, "ERROR", gone)
            return response
        watch = _Watch(ns, selector, asyncio.Queue())
        for item in self._backlog(ns, selector, since):
            watch.queue.put_nowait(item)
        self._watches.append(watch)
        try:
            await self._stream(request, response, watch, timeout, bookmarks)
        finally:
            self._watches.remove(watch)
        return response

    async def _stream(
        self,
        request: web.Request,
        response: web.StreamResponse,
        watch: _Watch,
        timeout: float,
        bookmarks: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (remaining := deadline - loop.time()) > 0:
            try:
                async with asyncio.timeout(min(remaining, self.bookmark_interval)):
                    item = await watch.queue.get()
            except TimeoutError:
                if bookmarks and deadline - loop.time() > 0:
                    await _write(response, "BOOKMARK", self._bookmark())
                continue
            if item is _DROP:
                if request.transport is not None:
                    request.transport.abort()
                return
            kind, obj = item
            if kind == "BOOKMARK" and not bookmarks:
                continue
            labels = obj.get("metadata", {}).get("labels", {})
            if kind == "BOOKMARK" or label_matches(watch.selector, labels):
                await _write(response, kind, obj)


def _status(code: int, message: str, reason: str | None = None) -> web.Response:
    return web.json_response(status_body(code, message, reason), status=code)


async def _write(response: web.StreamResponse, kind: str, obj: Mapping[str, Any]) -> None:
    line = json.dumps({"type": kind, "object": obj}) + "\n"
    await response.write(line.encode())


class ObservationRecorder:
    """A sink that keeps every observation, and lets a test wait for one."""

    def __init__(self) -> None:
        self.seen: list[Observation] = []
        self._changed = asyncio.Condition()

    async def __call__(self, observation: Observation) -> None:
        async with self._changed:
            self.seen.append(observation)
            self._changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[Observation], bool], timeout: float = 5.0
    ) -> Observation:
        """The first observation (already seen or arriving) for which `predicate` holds."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: any(predicate(obs) for obs in self.seen))
        return next(obs for obs in self.seen if predicate(obs))

    def of(self, workflow: str) -> list[Observation]:
        return [obs for obs in self.seen if obs.workflow_name == workflow]


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
async def fake_kube() -> AsyncIterator[FakeKube]:
    """A started fake API server; stopped after the test."""
    kube = FakeKube(bookmark_interval=0.2)
    await kube.start()
    yield kube
    await kube.stop()


@pytest.fixture
def kube_settings(fake_kube: FakeKube, tmp_path: Path) -> Settings:
    """Settings for the Argo engine against `fake_kube`: two environments in two namespaces."""
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    return Settings(
        engine="argo",
        kubeconfig=str(kubeconfig),
        data_dir=tmp_path,
        results_dir=tmp_path / "results",
        resync_interval=30.0,
        environments=(
            Environment(id="ocean-compute", namespace="ocean-compute", max_job_duration=60),
            Environment(id="gpu", namespace="gpu-jobs", max_job_duration=60),
        ),
    )


@pytest.fixture
async def kube_client(kube_settings: Settings) -> AsyncIterator[TestingKubeClient]:
    """The real kubernetes.aio-based client, connected to `fake_kube`."""
    client = await TestingKubeClient.connect(kube_settings)
    yield client
    await client.close()
