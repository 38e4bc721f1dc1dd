"""Jobs: what a consumer asked to run (JobSpec) and what became of it (Job)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any, NewType

from operator_argo.domain.status import JobStatus, StopReason

JobId = NewType("JobId", str)
"""32 lowercase hex characters (uuid4 hex)."""

Address = NewType("Address", str)
"""An Ethereum address as the caller sent it (compare lowercased)."""

DID_PREFIX = "did:op:"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def epoch_text(moment: dt.datetime) -> str:
    """The contract's dates: epoch seconds as a string with a six-digit fraction, computed
    exactly (no float)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    delta = moment - _EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    return f"{seconds}.{delta.microseconds:06d}"


def did_folder(did: str) -> str:
    """The folder name of a DID under /data/inputs and /data/ddos: the DID without `did:op:`."""
    return did[len(DID_PREFIX) :] if did.startswith(DID_PREFIX) else did


@dataclasses.dataclass(frozen=True, kw_only=True)
class RemoteSource:
    """A file served by an Ocean provider, bought in transaction `tx_id`."""

    tx_id: str
    service_id: str
    user_data: Any = None
    service_endpoint: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class InputSpec:
    """One dataset: plain URLs, or a remote (provider-served) asset."""

    index: int
    did: str | None  # None for url inputs sent without an id
    urls: tuple[str, ...] = ()
    remote: RemoteSource | None = None

    @property
    def folder(self) -> str:
        """Its folder under /data/inputs: the DID without `did:op:`, or without an id its index
        (a stable name, and the one the algorithm finds in DIDS)."""
        return str(self.index) if self.did is None else did_folder(self.did)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ContainerSpec:
    """The image the algorithm runs in and how to start it (`$ALGO` is the algorithm file)."""

    entrypoint: str
    image: str
    tag: str = "latest"
    checksum: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class AlgorithmSpec:
    """The algorithm: raw code, URLs or a remote asset, and the container to run it in."""

    did: str | None  # None when the request had no `id` key at all (reported as algoDID "raw")
    container: ContainerSpec
    rawcode: str = ""
    urls: tuple[str, ...] = ()
    remote: RemoteSource | None = None
    custom_data: Any = None  # `algocustomdata`, written to /data/inputs/algoCustomData.json
    user_data: Any = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobSpec:
    """Everything the job's steps need to know; contains no secrets."""

    inputs: tuple[InputSpec, ...]
    algorithm: AlgorithmSpec
    metadata_uri: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResultFile:
    """One published file. `key` locates it in result storage and never leaves the operator."""

    filename: str
    filesize: int
    type: str
    key: str = ""
    sha256: str = ""  # hex, as publish hashed it; stated in the job's receipt, not in /compute


@dataclasses.dataclass(frozen=True, kw_only=True)
class TerminationDetails:
    """How the algorithm ended."""

    exit_code: int | None = None
    oom_killed: bool = False
    message: str | None = None
    image_id: str | None = None  # the image that ran, by digest (Engine.ran_image); receipts


@dataclasses.dataclass(frozen=True, kw_only=True)
class StatusChange:
    """One entry of a job's status history: the status it reached, and when."""

    status: JobStatus
    at: dt.datetime


@dataclasses.dataclass(frozen=True, kw_only=True)
class NewJob:
    """A validated, authenticated request to start a job, before it is stored."""

    job_id: JobId
    owner: Address
    agreement_id: str
    environment: str
    spec: JobSpec
    chain_id: int | None = None
    provider_address: str | None = None
    valid_until: int | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Job:
    """A stored job and its state."""

    job_id: JobId
    owner: Address
    agreement_id: str
    environment: str
    spec: JobSpec
    status: JobStatus
    date_created: dt.datetime
    chain_id: int | None = None
    provider_address: str | None = None
    valid_until: int | None = None
    stopreq: StopReason = StopReason.NONE
    removed: bool = False
    date_finished: dt.datetime | None = None
    results: tuple[ResultFile, ...] | None = None  # None until publish has reported
    termination: TerminationDetails | None = None
    workflow_name: str | None = None
    submitted_at: dt.datetime | None = None
    algorithm_started_at: dt.datetime | None = None
    results_deleted_at: dt.datetime | None = None
    error: str | None = None  # why the job ended abnormally, for operators
    # Loaded by the status queries only (None elsewhere), so it takes no part in equality.
    history: tuple[StatusChange, ...] | None = dataclasses.field(default=None, compare=False)

    @property
    def algo_did(self) -> str:
        """`algorithm.id` when the request had the key (maybe empty), otherwise "raw"."""
        return "raw" if self.spec.algorithm.did is None else self.spec.algorithm.did

    @property
    def input_dids(self) -> list[str]:
        """The inputs' ids as the status reports them ("" for an input sent without one)."""
        return [item.did or "" for item in self.spec.inputs]

    @property
    def is_finished(self) -> bool:
        return self.status.is_final


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobFilter:
    """Which jobs a GET/PUT/DELETE call addresses; the fields combine with AND."""

    job_id: str | None = None
    owner: str | None = None
    agreement_id: str | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.job_id or self.owner or self.agreement_id)


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobUpdate:
    """A change the reconciler wants stored, guarded by the allowed transitions."""

    status: JobStatus
    finished: bool = False
    results: tuple[ResultFile, ...] | None = None
    stopreq: StopReason | None = None
    termination: TerminationDetails | None = None
    algorithm_started_at: dt.datetime | None = None
    error: str | None = None


# --- (de)serialisation of the spec: how it is stored and handed to the steps -----------------


def _remote_from_dict(data: Mapping[str, Any] | None) -> RemoteSource | None:
    return None if data is None else RemoteSource(**data)


def _remote_to_dict(remote: RemoteSource | None) -> dict[str, Any] | None:
    if remote is None:
        return None
    return {
        "tx_id": remote.tx_id,
        "service_id": remote.service_id,
        "user_data": remote.user_data,
        "service_endpoint": remote.service_endpoint,
    }


def spec_to_dict(spec: JobSpec) -> dict[str, Any]:
    """The spec as plain JSON-able data (stable field names; stored and passed to steps).

    Written out rather than `dataclasses.asdict`, which deep-copies every leaf and was the
    largest single cost of building a workflow; a test holds the two equal.
    """
    algo = spec.algorithm
    return {
        "inputs": [
            {
                "index": item.index,
                "did": item.did,
                "urls": list(item.urls),
                "remote": _remote_to_dict(item.remote),
            }
            for item in spec.inputs
        ],
        "algorithm": {
            "did": algo.did,
            "container": {
                "entrypoint": algo.container.entrypoint,
                "image": algo.container.image,
                "tag": algo.container.tag,
                "checksum": algo.container.checksum,
            },
            "rawcode": algo.rawcode,
            "urls": list(algo.urls),
            "remote": _remote_to_dict(algo.remote),
            "custom_data": algo.custom_data,
            "user_data": algo.user_data,
        },
        "metadata_uri": spec.metadata_uri,
    }


def spec_from_dict(data: Mapping[str, Any]) -> JobSpec:
    """Inverse of `spec_to_dict`."""
    algo = dict(data["algorithm"])
    return JobSpec(
        inputs=tuple(
            InputSpec(
                index=item["index"],
                did=item["did"],
                urls=tuple(item.get("urls") or ()),
                remote=_remote_from_dict(item.get("remote")),
            )
            for item in data["inputs"]
        ),
        algorithm=AlgorithmSpec(
            did=algo.get("did"),
            container=ContainerSpec(**algo["container"]),
            rawcode=algo.get("rawcode") or "",
            urls=tuple(algo.get("urls") or ()),
            remote=_remote_from_dict(algo.get("remote")),
            custom_data=algo.get("custom_data"),
            user_data=algo.get("user_data"),
        ),
        metadata_uri=data.get("metadata_uri"),
    )


def results_to_list(results: tuple[ResultFile, ...]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(item) for item in results]


def results_from_list(data: list[Mapping[str, Any]]) -> tuple[ResultFile, ...]:
    return tuple(
        ResultFile(
            filename=str(item["filename"]),
            filesize=int(item["filesize"]),
            type=str(item["type"]),
            key=str(item.get("key", "")),
            sha256=str(item.get("sha256") or ""),
        )
        for item in data
    )
