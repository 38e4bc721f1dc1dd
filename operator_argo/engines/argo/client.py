"""Kubernetes client: Workflow custom objects, pods and pod logs (kubernetes.aio), errors mapped.

The only module that imports `kubernetes`. Every call goes through `_translate`, which maps the
SDK's and aiohttp's exceptions onto the domain tree once:

    404 of one workflow        -> NotFound (the workflow is gone)
    409 (exists)               -> AlreadyExists (local)
    410                        -> Gone (local: the watch's resourceVersion is too old, relist)
    422, 413                   -> PermanentEngineError (the server refuses this workflow's body)
    409 (other), 429, 5xx, connection errors, timeouts -> TransientEngineError
    401, 403, 404 of a collection (a missing namespace or Workflow resource), other 4xx
                               -> EngineMisconfigured (names the verb and resource; retryable:
                                  the operator fixes RBAC or namespaces and the jobs run)
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import json
import os
import urllib.request
from collections.abc import AsyncGenerator, Awaitable, Iterator, Mapping
from typing import Any

import aiohttp
from kubernetes.aio import client as kclient
from kubernetes.aio import config as kconfig

from operator_argo.config import Settings
from operator_argo.domain.errors import (
    ConfigurationError,
    EngineMisconfigured,
    NotFound,
    OperatorError,
    PermanentEngineError,
    TransientEngineError,
)

GROUP = "argoproj.io"
VERSION = "v1alpha1"
PLURAL = "workflows"
WATCH_SLACK = 30.0  # seconds past the server-side watch timeout before the client gives up


class AlreadyExists(OperatorError):
    """A create met an object of the same name (409 AlreadyExists)."""

    http_status = 409


class Gone(OperatorError):
    """The requested resourceVersion is no longer in the server's history (410): relist."""

    http_status = 410


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkflowList:
    """A list answer: the items and the collection's resourceVersion to watch from."""

    items: list[dict[str, Any]]
    resource_version: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class WatchEvent:
    """One watch event: ADDED, MODIFIED, DELETED or BOOKMARK, with the object as a dict."""

    type: str
    object: dict[str, Any]


def _status_reason(body: object) -> tuple[str, str]:
    """(reason, message) of a Kubernetes Status body, as far as it can be read."""
    data: object = body
    if isinstance(body, str | bytes):
        try:
            data = json.loads(body)
        except ValueError:
            return "", str(body)[:200]
    if isinstance(data, Mapping):
        return str(data.get("reason") or ""), str(data.get("message") or "")
    return "", ""


def error_for_status(
    status: int, body: object, what: str, *, collection: bool = False
) -> OperatorError:
    """The domain error for an HTTP status answered to `what` (e.g. "create workflows/<name>");
    `collection`: the call addressed the namespace's collection (create, list, watch), so a
    404 means the namespace or the resource type is missing, not one workflow."""
    reason, message = _status_reason(body)
    detail = f"{what}: {message or reason or status}"
    if status == 404 and not collection:
        return NotFound(detail)
    if status == 409 and reason in ("AlreadyExists", ""):
        return AlreadyExists(detail)
    if status == 410:
        return Gone(detail)
    if status in {409, 429} or status >= 500:
        return TransientEngineError(f"Kubernetes API unavailable ({status}) on {what}: {message}")
    if status in {413, 422}:
        return PermanentEngineError(
            f"Kubernetes API rejected {what} ({status}): {message or reason}"
        )
    hint = "check the RBAC rules" if status in {401, 403} else "check the namespace and Argo"
    return EngineMisconfigured(
        f"the cluster refused to {what} (HTTP {status}): {hint}: {message or reason}"
    )


@contextlib.contextmanager
def _translate(what: str, *, collection: bool = False) -> Iterator[None]:
    try:
        yield
    except kclient.ApiException as exc:
        status = int(exc.status or 0)
        raise error_for_status(status, exc.body, what, collection=collection) from exc
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise TransientEngineError(f"Kubernetes API unreachable on {what}: {exc!r}") from exc


# Set while sending a request whose parameters and body are plain JSON data already.
_PLAIN_JSON: contextvars.ContextVar[bool] = contextvars.ContextVar("plain_json", default=False)


class _ApiClient(kclient.ApiClient):
    """The generated client, minus its object-by-object sanitising walk for requests known to be
    plain JSON (a third of a workflow submission's CPU time went there)."""

    def sanitize_for_serialization(self, obj: Any) -> Any:
        if _PLAIN_JSON.get():
            return obj
        return super().sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]


class KubeClient:
    """Workflows in namespaces: create, get, list, watch, patch, delete."""

    def __init__(self, api_client: Any) -> None:
        self._api = api_client
        self._custom = kclient.CustomObjectsApi(api_client)
        self._core = kclient.CoreV1Api(api_client)

    @classmethod
    async def connect(cls, settings: Settings) -> KubeClient:
        """A client for `settings.kubeconfig`, or the in-cluster service account when empty."""
        configuration = kclient.Configuration()
        try:
            if settings.kubeconfig:
                await kconfig.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=settings.kubeconfig,
                    client_configuration=configuration,
                    persist_config=False,
                )
            else:
                kconfig.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except (kconfig.ConfigException, OSError) as exc:
            where = settings.kubeconfig or "the in-cluster service account"
            raise ConfigurationError(f"cannot load Kubernetes config from {where}: {exc}") from exc
        configuration.client_session_kwargs = {"trust_env": _environment_configures_http()}
        return cls(_ApiClient(configuration))

    async def close(self) -> None:
        await self._api.close()

    async def _call(
        self, what: str, call: Awaitable[object], *, collection: bool = False
    ) -> dict[str, Any]:
        with _translate(what, collection=collection):
            result = await call
        return dict(result) if isinstance(result, Mapping) else {}

    async def submit_workflow(self, namespace: str, body: Mapping[str, Any]) -> None:
        """Create a workflow whose body is plain JSON data (dicts, lists, strings, numbers,
        booleans, None), on the hot path: the body is sent without the client's sanitising walk
        and the stored object that the server answers with is read (keeping the connection
        alive) but not decoded."""
        name = _map(body.get("metadata")).get("name", "")
        what = f"create workflows/{name} in {namespace}"
        token = _PLAIN_JSON.set(True)
        try:
            with _translate(what, collection=True):
                response = (
                    await self._custom.create_namespaced_custom_object_without_preload_content(
                        GROUP, VERSION, namespace, PLURAL, dict(body)
                    )
                )
                try:
                    # Read to the end either way: an answer released unread closes its
                    # connection, and the next create pays a new TCP and TLS handshake.
                    answer = await response.read()
                    if not 200 <= response.status < 300:
                        text = answer.decode("utf-8", "replace")
                        raise error_for_status(response.status, text, what, collection=True)
                finally:
                    response.release()
        finally:
            _PLAIN_JSON.reset(token)

    async def list_workflows(self, namespace: str, *, label_selector: str = "") -> WorkflowList:
        call = self._custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, label_selector=label_selector or None
        )
        data = await self._call(f"list workflows in {namespace}", call, collection=True)
        items = [item for item in data.get("items") or [] if isinstance(item, dict)]
        version = str(_map(data.get("metadata")).get("resourceVersion") or "")
        return WorkflowList(items=items, resource_version=version)

    async def patch_workflow(
        self, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Apply a JSON merge patch (RFC 7386) to the workflow."""
        call = self._custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            dict(patch),
            _content_type="application/merge-patch+json",
        )
        return await self._call(f"patch workflows/{name} in {namespace}", call)

    async def delete_workflow(self, namespace: str, name: str) -> None:
        call = self._custom.delete_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, propagation_policy="Background"
        )
        await self._call(f"delete workflows/{name} in {namespace}", call)

    async def pod_names(self, namespace: str, *, label_selector: str) -> list[str]:
        """The names of the pods carrying `label_selector`, oldest first."""
        pods = await self.list_pods(namespace, label_selector=label_selector)
        return [str(_map(item.get("metadata")).get("name", "")) for item in pods]

    async def list_pods(self, namespace: str, *, label_selector: str) -> list[Mapping[str, Any]]:
        """The pods carrying `label_selector` as the API server states them, oldest first."""
        call = self._core.list_namespaced_pod_without_preload_content(
            namespace, label_selector=label_selector
        )
        what = f"list pods in {namespace}"
        with _translate(what, collection=True):
            response = await call
            try:
                body = await response.read()
                if response.status >= 300:
                    raise error_for_status(response.status, body, what, collection=True)
            finally:
                response.release()
        items = [_map(item) for item in _map(json.loads(body)).get("items") or []]
        items.sort(key=lambda item: str(_map(item.get("metadata")).get("creationTimestamp", "")))
        return items

    async def follow_pod_log(
        self, namespace: str, pod: str, *, container: str
    ) -> AsyncGenerator[bytes, None]:
        """A container's log from its start, following it until the container has ended (the
        server then closes the stream). NotFound: no such pod, or the container has not begun."""
        what = f"get pods/{pod}/log in {namespace}"
        with _translate(what):
            response = await self._core.read_namespaced_pod_log_without_preload_content(
                pod, namespace, container=container, follow=True
            )
        try:
            if response.status >= 300:
                with _translate(what):
                    body = await response.read()
                raise error_for_status(response.status, body, what)
            while True:
                with _translate(what):
                    chunk = await response.content.readany()
                if not chunk:
                    return
                yield chunk
        finally:
            response.release()

    async def watch_workflows(
        self,
        namespace: str,
        *,
        label_selector: str = "",
        resource_version: str = "",
        timeout_seconds: int = 300,
        allow_bookmarks: bool = True,
    ) -> AsyncGenerator[WatchEvent, None]:
        """Stream watch events until the server ends the watch. An ERROR event becomes the
        matching domain error (410 -> Gone); a dropped connection -> TransientEngineError."""
        what = f"watch workflows in {namespace}"
        with _translate(what, collection=True):
            response = await self._custom.list_namespaced_custom_object_without_preload_content(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                label_selector=label_selector or None,
                resource_version=resource_version or None,
                allow_watch_bookmarks=allow_bookmarks,
                timeout_seconds=timeout_seconds,
                watch=True,
                _request_timeout=timeout_seconds + WATCH_SLACK,
            )
        try:
            if response.status >= 300:
                with _translate(what, collection=True):
                    body = await response.read()
                raise error_for_status(response.status, body, what, collection=True)
            while True:
                with _translate(what):
                    line = await response.content.readline()
                if not line:
                    return
                event = _parse_event(line, what)
                if event is not None:
                    yield event
        finally:
            response.release()


def _environment_configures_http() -> bool:
    """Whether proxy variables or a netrc file are set, so the HTTP session must read them.

    With them unset, the session is told not to look: it would otherwise look again on every
    request, in a worker thread (two thread hops per workflow submitted).
    """
    proxies = urllib.request.getproxies()
    if any(proxies.get(scheme) for scheme in ("http", "https")):
        return True
    netrc = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
    return os.path.isfile(netrc)


def _parse_event(line: bytes, what: str) -> WatchEvent | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None  # a blank keep-alive or a torn line; the next relist covers anything lost
    if not isinstance(data, Mapping):
        return None
    kind = str(data.get("type") or "")
    obj = data.get("object")
    if kind == "ERROR":
        code = _map(obj).get("code")
        status = int(code) if isinstance(code, int) else 500
        raise error_for_status(status, obj, what, collection=True)
    if not kind or not isinstance(obj, dict):
        return None
    return WatchEvent(type=kind, object=obj)


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
