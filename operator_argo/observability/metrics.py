"""Prometheus metrics: every operator_argo_* series is declared here, in one private registry.

The registry is not prometheus-client's global one, so importing this module twice in tests or
next to other libraries never collides. Callers use the small record_* / observe_* / set_*
functions; `render_metrics()` produces the `/metrics` response body and content type.

With several serving processes (processes.py) each writes its values to the directory that
config.metrics_directory() names (prometheus-client's multiprocess mode) and `/metrics`, whichever
process answers it, shows the replica's sums; the gauges, set only by the process running the
background loops, show its most recent values.

Label conventions: `route` is the route template (e.g. `/compute`), never the raw path, so the
series count stays bounded; `status` of a job is its numeric Ocean status code as text ("1", "70").
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from operator_argo.config import metrics_directory

REGISTRY = CollectorRegistry(auto_describe=True)
# Read once, as prometheus-client reads it when it is first imported.
_MULTIPROCESS_DIRECTORY = metrics_directory()

# Queue waits and reconcile lag span seconds to hours; the default buckets stop at 10 s.
_WAIT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
_LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

HTTP_REQUESTS = Counter(
    "operator_argo_http_requests_total",
    "HTTP requests answered, by route template, method and status code.",
    ("route", "method", "status"),
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "operator_argo_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method.",
    ("route", "method"),
    registry=REGISTRY,
)
JOBS_BY_STATUS = Gauge(
    "operator_argo_jobs_by_status",
    "Jobs stored (not removed), by environment and Ocean status code.",
    ("environment", "status"),
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
QUEUE_DEPTH = Gauge(
    "operator_argo_queue_depth",
    "Jobs waiting for admission (status 1, not yet submitted), by environment.",
    ("environment",),
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
QUEUE_WAIT = Histogram(
    "operator_argo_queue_wait_seconds",
    "Time from a job's creation to its workflow submission, by environment.",
    ("environment",),
    buckets=_WAIT_BUCKETS,
    registry=REGISTRY,
)
WORKFLOW_SUBMISSIONS = Counter(
    "operator_argo_workflow_submissions_total",
    "Workflow submissions by environment and outcome (submitted, failed, refused, rejected).",
    ("environment", "outcome"),
    registry=REGISTRY,
)
WATCHER_EVENTS = Counter(
    "operator_argo_watcher_events_total",
    "Workflow watch events received, by namespace and event type.",
    ("namespace", "type"),
    registry=REGISTRY,
)
RECONCILE_LAG = Histogram(
    "operator_argo_reconcile_lag_seconds",
    "Time from a workflow change to its job update being stored.",
    buckets=_LAG_BUCKETS,
    registry=REGISTRY,
)
RESULT_BYTES_SERVED = Counter(
    "operator_argo_result_bytes_served_total",
    "Bytes of job results sent to clients by getResult.",
    registry=REGISTRY,
)
JOBS_FINISHED = Counter(
    "operator_argo_jobs_finished_total",
    "Jobs that reached a final status, by environment and status code.",
    ("environment", "status"),
    registry=REGISTRY,
)

NOTICES = Counter(
    "operator_argo_notices_total",
    "Notice delivery attempts by kind (start, finish) and outcome (delivered; failed, retried "
    "later; given_up, expired or without a receiver).",
    ("kind", "outcome"),
    registry=REGISTRY,
)


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered HTTP request and record its latency."""
    HTTP_REQUESTS.labels(route=route, method=method.upper(), status=str(status)).inc()
    HTTP_DURATION.labels(route=route, method=method.upper()).observe(seconds)


_shown_by_status: set[tuple[str, str]] = set()


def set_jobs_by_status(counts: Mapping[tuple[str, int], int]) -> None:
    """Replace the jobs-by-status gauge with a fresh snapshot {(environment, status): count}."""
    fresh = {(env, str(int(status))): count for (env, status), count in counts.items()}
    if _MULTIPROCESS_DIRECTORY is None:
        JOBS_BY_STATUS.clear()  # statuses absent from the snapshot must not keep stale values
    else:
        # Values in the shared directory cannot be cleared: a series gone shows 0 instead.
        for environment, status in _shown_by_status - fresh.keys():
            JOBS_BY_STATUS.labels(environment=environment, status=status).set(0)
        _shown_by_status.update(fresh)
    for (environment, status), count in fresh.items():
        JOBS_BY_STATUS.labels(environment=environment, status=status).set(count)


def set_queue_depth(environment: str, depth: int) -> None:
    """Set how many jobs of `environment` wait for admission."""
    QUEUE_DEPTH.labels(environment=environment).set(depth)


def observe_queue_wait(environment: str, seconds: float) -> None:
    """Record how long a job waited between creation and submission."""
    QUEUE_WAIT.labels(environment=environment).observe(max(seconds, 0.0))


def record_submission(environment: str, outcome: str) -> None:
    """Count one submission attempt: `submitted`; `failed` (the cluster is unreachable) or
    `refused` (it refuses the operator: RBAC, a missing namespace), both retried with the job
    left queued; `rejected` (the workflow is invalid: the job ends)."""
    WORKFLOW_SUBMISSIONS.labels(environment=environment, outcome=outcome).inc()


ALGORITHM_START_FAILURES = Counter(
    "operator_argo_algorithm_start_failures_total",
    "Jobs ended because their algorithm's container could not start, by waiting reason "
    "(ErrImagePull, InvalidImageName, ...).",
    ("reason",),
    registry=REGISTRY,
)


RECEIPTS = Counter(
    "operator_argo_receipts_total",
    "Receipts of finished jobs by outcome (published; failed, the job finished without one; "
    "unsigned, its environment's key is not the operator's to read).",
    ("outcome",),
    registry=REGISTRY,
)


def record_receipt(outcome: str) -> None:
    """Count one finished job's receipt by outcome."""
    RECEIPTS.labels(outcome=outcome).inc()


def record_algorithm_start_failure(reason: str) -> None:
    """Count one job ended because its algorithm could not start."""
    ALGORITHM_START_FAILURES.labels(reason=reason).inc()


def record_watch_event(namespace: str, event_type: str) -> None:
    """Count one watch event (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR, RELIST)."""
    WATCHER_EVENTS.labels(namespace=namespace, type=event_type).inc()


def observe_reconcile_lag(seconds: float) -> None:
    """Record the delay between a workflow change and the stored job update."""
    RECONCILE_LAG.observe(max(seconds, 0.0))


def record_result_bytes(count: int) -> None:
    """Count result bytes sent to a client."""
    if count > 0:
        RESULT_BYTES_SERVED.inc(count)


def record_job_finished(environment: str, status: int) -> None:
    """Count a job reaching a final status (31, 32 or 70)."""
    JOBS_FINISHED.labels(environment=environment, status=str(int(status))).inc()


def record_notice(kind: str, outcome: str) -> None:
    """Count one notice attempt's outcome: `delivered`, `failed` (retried) or `given_up`."""
    NOTICES.labels(kind=kind, outcome=outcome).inc()


def render_metrics() -> tuple[bytes, str]:
    """The Prometheus text exposition of every operator_argo_* series (of every serving process
    of the replica), and its content type."""
    if _MULTIPROCESS_DIRECTORY is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    merged = CollectorRegistry()
    MultiProcessCollector(merged, path=_MULTIPROCESS_DIRECTORY)  # type: ignore[no-untyped-call]
    return generate_latest(merged), CONTENT_TYPE_LATEST
