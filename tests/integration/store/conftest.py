"""Fixtures of the store tests: new jobs with unique ids."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from operator_argo.domain.job import (
    Address,
    AlgorithmSpec,
    ContainerSpec,
    InputSpec,
    JobSpec,
    NewJob,
    RemoteSource,
)
from tests.kit import factories

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
    """A queued-to-be job with every optional field set (a fresh agreement id unless given)."""
    optional = {} if agreement_id is None else {"agreement_id": agreement_id}
    return factories.new_job(
        environment,
        owner=Address(owner),
        spec=SPEC,
        chain_id=chain_id,
        provider_address="0x00000000000000000000000000000000000000aa",
        valid_until=1_900_000_000,
        **optional,
    )


@pytest.fixture
def make_job() -> Callable[..., NewJob]:
    """`make_job(owner=..., agreement_id=..., environment=...)`: a NewJob with a fresh id."""
    return new_job
