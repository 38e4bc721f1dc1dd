"""The metrics module: every series registers in the private registry and renders."""

from __future__ import annotations

import prometheus_client
from prometheus_client.parser import text_string_to_metric_families

from operator_argo.domain.status import JobStatus
from operator_argo.observability import metrics

EXPECTED = {
    "operator_argo_http_requests": "counter",
    "operator_argo_http_request_duration_seconds": "histogram",
    "operator_argo_jobs_by_status": "gauge",
    "operator_argo_queue_depth": "gauge",
    "operator_argo_queue_wait_seconds": "histogram",
    "operator_argo_workflow_submissions": "counter",
    "operator_argo_watcher_events": "counter",
    "operator_argo_reconcile_lag_seconds": "histogram",
    "operator_argo_result_bytes_served": "counter",
    "operator_argo_jobs_finished": "counter",
}


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def rendered_families() -> dict[str, prometheus_client.Metric]:
    body, _ = metrics.render_metrics()
    return {family.name: family for family in text_string_to_metric_families(body.decode())}


def test_every_series_renders_with_its_type_and_prefix() -> None:
    metrics.observe_request("/compute", "get", 200, 0.01)
    families = rendered_families()
    assert {name: families[name].type for name in EXPECTED} == EXPECTED
    assert all(name.startswith("operator_argo_") for name in families)


def test_content_type_is_the_prometheus_text_format() -> None:
    _, content_type = metrics.render_metrics()
    assert content_type.startswith("text/plain")
    assert "version=" in content_type


def test_the_private_registry_leaves_the_global_one_alone() -> None:
    metrics.observe_request("/", "get", 200, 0.001)
    global_names = {family.name for family in prometheus_client.REGISTRY.collect()}
    assert not any(name.startswith("operator_argo_") for name in global_names)


def test_observe_request_counts_and_times() -> None:
    labels = {"route": "/compute", "method": "POST", "status": "400"}
    before = value("operator_argo_http_requests_total", **labels)
    before_sum = value(
        "operator_argo_http_request_duration_seconds_sum", route="/compute", method="POST"
    )
    metrics.observe_request("/compute", "post", 400, 0.25)
    assert value("operator_argo_http_requests_total", **labels) == before + 1
    assert (
        value("operator_argo_http_request_duration_seconds_sum", route="/compute", method="POST")
        == before_sum + 0.25
    )


def test_jobs_by_status_snapshot_replaces_stale_series() -> None:
    metrics.set_jobs_by_status({("cpu", JobStatus.RUNNING): 3, ("cpu", JobStatus.QUEUED): 2})
    assert value("operator_argo_jobs_by_status", environment="cpu", status="40") == 3
    metrics.set_jobs_by_status({("cpu", JobStatus.FINISHED): 5})
    assert value("operator_argo_jobs_by_status", environment="cpu", status="70") == 5
    assert (
        metrics.REGISTRY.get_sample_value(
            "operator_argo_jobs_by_status", {"environment": "cpu", "status": "40"}
        )
        is None
    )


def test_queue_metrics() -> None:
    metrics.set_queue_depth("gpu", 7)
    assert value("operator_argo_queue_depth", environment="gpu") == 7
    before = value("operator_argo_queue_wait_seconds_count", environment="gpu")
    metrics.observe_queue_wait("gpu", 12.0)
    metrics.observe_queue_wait("gpu", -1.0)  # clock skew between replicas must not go negative
    assert value("operator_argo_queue_wait_seconds_count", environment="gpu") == before + 2
    assert value("operator_argo_queue_wait_seconds_bucket", environment="gpu", le="15.0") >= 2


def test_engine_counters_move() -> None:
    before = value("operator_argo_workflow_submissions_total", environment="cpu", outcome="failed")
    metrics.record_submission("cpu", "failed")
    assert (
        value("operator_argo_workflow_submissions_total", environment="cpu", outcome="failed")
        == before + 1
    )
    before = value("operator_argo_watcher_events_total", namespace="ns", type="MODIFIED")
    metrics.record_watch_event("ns", "MODIFIED")
    assert (
        value("operator_argo_watcher_events_total", namespace="ns", type="MODIFIED") == before + 1
    )
    before = value("operator_argo_reconcile_lag_seconds_count")
    metrics.observe_reconcile_lag(0.3)
    assert value("operator_argo_reconcile_lag_seconds_count") == before + 1


def test_result_bytes_and_finished_jobs() -> None:
    before = value("operator_argo_result_bytes_served_total")
    metrics.record_result_bytes(1000)
    metrics.record_result_bytes(0)
    assert value("operator_argo_result_bytes_served_total") == before + 1000
    before = value("operator_argo_jobs_finished_total", environment="cpu", status="31")
    metrics.record_job_finished("cpu", JobStatus.DATA_FAILED)
    assert value("operator_argo_jobs_finished_total", environment="cpu", status="31") == before + 1
