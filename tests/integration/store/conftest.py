"""Fixtures of the store tests: new jobs with unique ids."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from operator_argo.domain.job import (
    Address,
    AlgorithmSpec,
    ContainerSpec,
    InputSpec,
    JobId,
    JobSpec,
    NewJob,
    RemoteSource,
)

SPEC = JobSpec(
    inputs=(
        InputSpec(index=0, did="did:op:aa", urls=("http://127.0.0.1:1/a.csv",)),
        InputSpec(index=1, did="did:op:bb", remote=RemoteSource(tx_id="0x1", service_id="s1")),
    ),
    algorithm=AlgorithmSpec(
        did=None,
        container=ContainerSpec(entrypoint="python $ALGO", image="python", tag="3.11"),
        rawcode="print('hi')",
        custom_data={"k": [1, 2]},
    ),
    metadata_uri="http://127.0.0.1:1",
)


def new_job(
    *,
    owner: str = "0xAbC0000000000000000000000000000000000001",
    agreement_id: str | None = None,
    environment: str = "env-a",
    chain_id: int | None = 8996,
) -> NewJob:
    """A queued-to-be job with a fresh id and (unless given) a fresh agreement id."""
    return NewJob(
        job_id=JobId(uuid.uuid4().hex),
        owner=Address(owner),
        agreement_id=agreement_id or f"agr-{uuid.uuid4().hex[:12]}",
        environment=environment,
        spec=SPEC,
        chain_id=chain_id,
        provider_address="0x00000000000000000000000000000000000000aa",
        valid_until=1_900_000_000,
    )


@pytest.fixture
def make_job() -> Callable[..., NewJob]:
    """`make_job(owner=..., agreement_id=..., environment=...)`: a NewJob with a fresh id."""
    return new_job
