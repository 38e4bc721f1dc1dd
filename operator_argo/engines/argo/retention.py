"""How long finished workflows stay in the cluster, and who removes them: Argo's controller.

A job's workflow is submitted without a TTL, so nothing can remove it before the operator has
stored the job's final state (persist, then GC). Once it has, `release_patch` gives the workflow
a ttlStrategy (OPERATOR_KEEP_FINISHED; failed ones OPERATOR_KEEP_FAILED when that is set) and
Argo's garbage collector deletes it that long after it finished; its TTL also tells every later
observation that the workflow is released, so its removal is never taken for a deletion behind
the operator's back. Pods and the job volume go when the workflow completes (podGC and
volumeClaimGC), except that OPERATOR_KEEP_FAILED keeps those of failed workflows until the
workflow itself goes: a completed pod that mounts the volume would hold it anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from operator_argo.config import Settings

TTL_FIELD = "ttlStrategy"


def gc_strategy(settings: Settings) -> str:
    """podGC and volumeClaimGC strategy: at completion, or (failed jobs kept) on success only."""
    return "OnWorkflowSuccess" if settings.keep_failed > 0 else "OnWorkflowCompletion"


def release_patch(settings: Settings) -> dict[str, Any] | None:
    """The merge patch that hands a finished workflow to Argo's clean-up; None = delete now."""
    if settings.keep_finished == 0 and settings.keep_failed == 0:
        return None
    failed = settings.keep_failed or settings.keep_finished
    ttl = {
        "secondsAfterSuccess": settings.keep_finished,
        "secondsAfterFailure": failed,
        "secondsAfterCompletion": failed,  # Argo's Error phase, which has no field of its own
    }
    return {"spec": {TTL_FIELD: ttl}}


def is_released(spec: Mapping[str, Any]) -> bool:
    """Whether a workflow spec carries a TTL: the operator released it (or Argo's defaults gave
    it one), so Argo removes it once finished."""
    return bool(spec.get(TTL_FIELD))
