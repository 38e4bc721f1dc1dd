"""Environments use-cases: which environment a job may use, and what GET /environments reports."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence

from operator_argo.domain.environment import Environment
from operator_argo.domain.errors import InvalidRequest
from operator_argo.domain.messages import ENVIRONMENT_INVALID


@dataclasses.dataclass(frozen=True, kw_only=True)
class EnvironmentState:
    """One environment as GET /environments reports it."""

    environment: Environment
    current_jobs: int
    last_seen: dt.datetime


def find_environment(
    environments: Sequence[Environment], env_id: str, chain_id: int | None
) -> Environment:
    """The environment `env_id` if it exists and accepts `chain_id`; InvalidRequest otherwise."""
    for env in environments:
        if env.id == env_id:
            if env.accepts_chain(chain_id):
                return env
            break
    raise InvalidRequest(ENVIRONMENT_INVALID)


def environment_states(
    environments: Sequence[Environment],
    active: Mapping[str, int],
    chain_id: int | None,
    now: dt.datetime,
) -> list[EnvironmentState]:
    """The environments that accept `chain_id`, with their started, unfinished job counts."""
    return [
        EnvironmentState(environment=env, current_jobs=active.get(env.id, 0), last_seen=now)
        for env in environments
        if env.accepts_chain(chain_id)
    ]
