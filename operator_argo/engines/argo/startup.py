"""Algorithms that cannot start: a job whose image cannot be pulled ends with the reason.

Kubernetes keeps a pod whose container cannot start waiting, retrying for ever, and Argo copies
the waiting reason into the step node's message (`ErrImagePull: failed to pull ...`) while the
node stays Pending. Left alone, such a job would sit at its status until `maxJobDuration` ran
out. `StartWatch` reads those messages from the workflows the watcher sees and decides when to
give up on the algorithm: at once for a reference that can never work, after the grace
(`OPERATOR_START_GRACE`) for reasons that might clear (a registry hiccup, a Secret created late).
The engine then stops the workflow with the reason in the stop-reason annotation, so that the
exit handler still publishes the logs and the job ends with that reason as its error.

Only the algorithm step counts: configure and publish run the operator's own image, so their
failure to start is a fault of the installation, which waits until it is fixed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from operator_argo.domain.observation import Observation, Phase

# Waiting reasons of a container that cannot start, as the kubelet names them.
NEVER_STARTS = ("InvalidImageName", "ErrImageNeverPull")
MAY_CLEAR = (
    "ErrImagePull",
    "ImagePullBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
)
MAX_REASON = 500  # characters of the kubelet's message kept in the job's error


def waiting_reason(obs: Observation) -> str | None:
    """The algorithm step's reason for not starting, as Argo reported it, or None."""
    algorithm = obs.step("algorithm")
    if algorithm is None or algorithm.phase is not Phase.PENDING or not algorithm.message:
        return None
    reason = algorithm.message.split(":", 1)[0].strip()
    return algorithm.message if reason in NEVER_STARTS + MAY_CLEAR else None


def stop_reason(message: str) -> str:
    """The job's error for an algorithm that could not start with ``message``."""
    return f"the algorithm could not start: {message[:MAX_REASON]}"


@dataclasses.dataclass
class StartWatch:
    """When to give up on algorithms that keep failing to start (one per engine)."""

    grace: float  # seconds a reason that may clear is given
    _first_seen: dict[str, dt.datetime] = dataclasses.field(default_factory=dict)
    _given_up: set[str] = dataclasses.field(default_factory=set)

    def verdict(self, obs: Observation, now: dt.datetime) -> str | None:
        """The job's error when the workflow should be stopped now (once per workflow)."""
        name = obs.workflow_name
        message = waiting_reason(obs)
        if message is None or obs.finished or obs.stopping or obs.stop_reason:
            self._first_seen.pop(name, None)
            if obs.finished or obs.deleted:
                self._given_up.discard(name)
            return None
        if name in self._given_up:
            return None
        first = self._first_seen.setdefault(name, now)
        never = message.split(":", 1)[0].strip() in NEVER_STARTS
        if not never and (now - first).total_seconds() < self.grace:
            return None
        self._given_up.add(name)
        return stop_reason(message)

    def retry(self, name: str) -> None:
        """The stop could not be written: decide again on the next look."""
        self._given_up.discard(name)
