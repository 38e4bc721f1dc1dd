"""The start use-case in the service: the contract's refusals in the contract's order
(environment, agreementId, signature and nonce, stage) while a passing call is one insert carrying
its nonce claim; and every filter route identifies its caller before it reads or changes a job."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from operator_argo.config import Settings
from operator_argo.domain.caller import NonceClaim
from operator_argo.domain.errors import Conflict, InvalidRequest, NonceRejected, Unauthorized
from operator_argo.domain.job import Job, JobFilter, NewJob
from operator_argo.domain.messages import AGREEMENT_IN_USE, ENVIRONMENT_INVALID
from operator_argo.domain.status import JobStatus
from operator_argo.service.jobs import JobService
from operator_argo.wire.shapes import parse_filter, parse_start
from tests.kit.factories import compute_body, make_environment, make_job

OWNER = "0x" + "ab" * 20


class Steps:
    """Records what the use-case did, in order: store calls and the caller check."""

    def __init__(self, *, refuse: bool = False, in_use: bool = False, used: bool = False) -> None:
        self.done: list[str] = []
        self._refuse = refuse
        self._in_use = in_use
        self._used = used  # the nonce was spent before

    def identify(
        self, message_parts: Sequence[str], signature: object, nonce: int | None
    ) -> NonceClaim | None:
        self.done.append(f"identify {''.join(message_parts)}{nonce}")
        if self._refuse:
            raise Unauthorized("Invalid providerSignature")
        return NonceClaim(signer="0x" + "1" * 40, nonce=nonce or 0)

    def _claimed(self, name: str, claim: NonceClaim | None) -> None:
        self.done.append(name if claim is None else f"{name} claiming {claim.nonce}")
        if claim is not None and self._used:
            raise claim.refused()

    async def find_jobs(self, flt: JobFilter, *, claim: NonceClaim | None = None) -> list[Job]:
        self._claimed("find_jobs", claim)
        return [make_job("env-a", status=JobStatus.RUNNING)] if self._in_use else []

    async def insert_job(self, job: NewJob, *, claim: NonceClaim | None = None) -> Job:
        self._claimed("insert_job", claim)
        return make_job(job.environment, job_id=job.job_id, owner=job.owner, spec=job.spec)

    async def spend_nonce(self, claim: NonceClaim) -> None:
        self._claimed("spend_nonce", claim)

    async def request_stop(self, flt: JobFilter, *, claim: NonceClaim | None = None) -> list[Job]:
        self._claimed("request_stop", claim)
        return []


def service(steps: Steps) -> JobService:
    settings = Settings(environments=(make_environment("env-a", allowed_chain_ids=(1,)),))
    return JobService(settings, steps, None, None, auth=steps)  # type: ignore[arg-type]


def start(**overrides: Any) -> Any:
    body = compute_body(["http://127.0.0.1:1/a"], owner=OWNER, environment="env-a", code="print(1)")
    return parse_start(body | {"nonce": 7, "chainId": 1} | overrides)


async def test_a_passing_start_is_one_insert_carrying_its_nonce_claim() -> None:
    steps = Steps()
    job = await service(steps).start(start())
    assert steps.done == [f"identify {OWNER}7", "insert_job claiming 7"]
    assert job.owner == OWNER and job.spec.algorithm.rawcode == "print(1)"


async def test_an_unknown_environment_or_chain_is_refused_before_anything_else() -> None:
    for request in (start(environment="env-b"), start(chainId=2)):
        steps = Steps(refuse=True)
        with pytest.raises(InvalidRequest, match=ENVIRONMENT_INVALID):
            await service(steps).start(request)
        assert steps.done == []


async def test_an_agreement_in_use_is_refused_before_the_signature_is_checked() -> None:
    steps = Steps(refuse=True, in_use=True)
    with pytest.raises(Conflict, match=AGREEMENT_IN_USE):
        await service(steps).start(start())
    assert steps.done == [f"identify {OWNER}7", "find_jobs"]


@pytest.mark.parametrize("in_use", [False, True])
async def test_a_spent_nonce_is_refused_unless_the_agreement_is_in_use(in_use: bool) -> None:
    steps = Steps(used=True, in_use=in_use)
    with pytest.raises(Conflict if in_use else NonceRejected):
        await service(steps).start(start())
    assert steps.done == [f"identify {OWNER}7", "insert_job claiming 7", "find_jobs"]


async def test_a_bad_stage_from_a_refused_caller_is_a_401_not_a_400() -> None:
    steps = Steps(refuse=True)
    with pytest.raises(Unauthorized):
        await service(steps).start(start(workflow={"stages": [{}]}))
    assert "insert_job" not in steps.done


async def test_a_bad_stage_is_refused_after_the_nonce_is_spent_and_stores_nothing() -> None:
    steps = Steps()
    with pytest.raises(InvalidRequest, match="Missing input in stage 0"):
        await service(steps).start(start(workflow={"stages": [{}]}))
    assert steps.done == [f"identify {OWNER}7", "find_jobs", "spend_nonce claiming 7"]


@pytest.mark.parametrize("use_case", ["status", "stop", "delete"])
async def test_a_filter_route_identifies_its_caller_before_touching_a_job(use_case: str) -> None:
    steps = Steps(refuse=True)
    request = parse_filter({"owner": OWNER, "jobId": "j" * 32, "nonce": "9"})
    with pytest.raises(Unauthorized):
        await getattr(service(steps), use_case)(request)
    assert steps.done == [f"identify {OWNER}{'j' * 32}9"]


@pytest.mark.parametrize(
    ("use_case", "carrier"),
    [("status", "find_jobs"), ("stop", "request_stop"), ("delete", "find_jobs")],
)
async def test_a_filter_route_claims_its_nonce_with_its_first_statement(
    use_case: str, carrier: str
) -> None:
    steps = Steps()
    request = parse_filter({"owner": OWNER, "jobId": "j" * 32, "nonce": "9"})
    await getattr(service(steps), use_case)(request)
    assert steps.done[:2] == [f"identify {OWNER}{'j' * 32}9", f"{carrier} claiming 9"]
