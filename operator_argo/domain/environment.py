"""Environments: the places jobs run (with Argo, a namespace), each with fixed per-job resources."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True, kw_only=True)
class KeySource:
    """Where an environment's private key comes from. Exactly one field is set.

    The operator reads `file` or `env` to derive the environment's address; job pods receive the
    key only through the Kubernetes Secret `secret_name`/`secret_key`.
    """

    file: str | None = None
    env: str | None = None
    secret_name: str | None = None
    secret_key: str = "key"  # noqa: S105 - the name of a Secret entry


FILTER_TIMEOUT = 600  # seconds a filtering step may run unless its environment says otherwise


@dataclasses.dataclass(frozen=True, kw_only=True)
class FilterStep:
    """The data owner's filter: an image and command that run after the algorithm and before
    publish, with the outputs mounted read-write and the inputs not mounted."""

    image: str
    command: tuple[str, ...]
    timeout: int = FILTER_TIMEOUT  # seconds (activeDeadlineSeconds of the step)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PodPlacement:
    """Where and how an environment's job pods run, in the Kubernetes API's own terms (checked
    at start-up). The mappings are never changed after start-up; they stay out of the hash."""

    node_selector: Mapping[str, str] = dataclasses.field(default_factory=dict, hash=False)
    tolerations: tuple[Mapping[str, Any], ...] = dataclasses.field(default=(), hash=False)
    affinity: Mapping[str, Any] | None = dataclasses.field(default=None, hash=False)
    priority_class_name: str = ""
    runtime_class_name: str = ""  # the algorithm's runtime (gVisor, Kata); "" = the node's default
    image_pull_secrets: tuple[str, ...] = ()  # Secret names, for private algorithm images
    image_pull_policy: str = ""  # Always, IfNotPresent or Never; "" = the Kubernetes default


@dataclasses.dataclass(frozen=True, kw_only=True)
class Environment:
    """One compute environment as configured by the operator's administrator."""

    id: str
    namespace: str
    cpu_number: int = 1
    cpu_type: str = ""
    gpu_number: int = 0
    gpu_type: str = ""
    ram_gb: int = 1
    disk_gb: int = 1
    price_min: float = 0
    desc: str = ""
    max_jobs: int = 10
    storage_expiry: int = 0  # seconds results are kept; 0 = the global STORAGE_EXPIRY
    max_job_duration: int = 3600  # seconds the algorithm may run
    allowed_chain_ids: tuple[int, ...] | None = None
    allow_network: bool = False  # may the algorithm reach the network
    # Refuse jobs whose input or algorithm URLs name a loopback, link-local or metadata address.
    refuse_local_urls: bool = False
    key: KeySource = dataclasses.field(default_factory=KeySource)
    consumer_address: str = ""  # derived from the key at start-up, never the key itself
    filter: FilterStep | None = None  # the filtering step, if the environment has one
    placement: PodPlacement = dataclasses.field(default_factory=PodPlacement)
    # Where its jobs' start and finish notices go; None = the global NOTIFY_START_URL and
    # NOTIFY_STOP_URL, "" = no notice for this environment.
    notify_start_url: str | None = None
    notify_stop_url: str | None = None

    def accepts_chain(self, chain_id: int | None) -> bool:
        """Whether a request for `chain_id` may use this environment."""
        if self.allowed_chain_ids is None or chain_id is None:
            return True
        return chain_id in self.allowed_chain_ids
