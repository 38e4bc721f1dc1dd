"""Retention of finished workflows: the GC strategies, the release patch, and what it marks."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from operator_argo.config import Settings
from operator_argo.engines.argo.retention import gc_strategy, release_patch
from operator_argo.engines.argo.status import parse_workflow
from operator_argo.engines.argo.watcher import deleted_observation
from tests.fakes.kube import sample_workflow

Build = Callable[..., dict[str, Any]]


def test_pods_and_volume_go_at_completion_unless_failed_jobs_are_kept(
    build: Build, settings: Settings
) -> None:
    spec = build()["spec"]
    assert spec["podGC"] == spec["volumeClaimGC"] == {"strategy": "OnWorkflowCompletion"}
    assert "ttlStrategy" not in spec  # submitted without one: it is set once the job is stored
    kept = build(settings=dataclasses.replace(settings, keep_failed=7200))["spec"]
    assert kept["podGC"] == kept["volumeClaimGC"] == {"strategy": "OnWorkflowSuccess"}
    assert gc_strategy(Settings(keep_finished=0, keep_failed=0)) == "OnWorkflowCompletion"


def test_the_release_patch_counts_from_the_workflows_finish() -> None:
    assert release_patch(Settings(keep_finished=0, keep_failed=0)) is None  # delete at once
    assert release_patch(Settings()) == {
        "spec": {
            "ttlStrategy": {
                "secondsAfterSuccess": 3600,
                "secondsAfterFailure": 3600,
                "secondsAfterCompletion": 3600,
            }
        }
    }
    only_failed = release_patch(Settings(keep_finished=0, keep_failed=600))
    assert only_failed is not None
    assert only_failed["spec"]["ttlStrategy"]["secondsAfterSuccess"] == 0
    assert only_failed["spec"]["ttlStrategy"]["secondsAfterFailure"] == 600


def test_a_released_workflow_says_so_also_when_it_is_removed() -> None:
    workflow = sample_workflow("d" * 32)
    assert not parse_workflow(workflow).released
    patch = release_patch(Settings())
    assert patch is not None
    workflow["spec"].update(patch["spec"])
    workflow["status"] = {"phase": "Succeeded", "finishedAt": "2030-01-01T00:00:00Z"}
    assert parse_workflow(workflow).released
    gone = deleted_observation(workflow)  # its TTL ran out: the last state, still released
    assert gone.released and gone.finished and not gone.deleted
