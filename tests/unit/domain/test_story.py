"""The public `error` of a job: the reason, never a URL, an address, a key or a credential."""

from __future__ import annotations

import dataclasses

import pytest

from operator_argo.domain.job import TerminationDetails
from operator_argo.domain.status import JobStatus, StopReason
from operator_argo.domain.story import MAX_PUBLIC_ERROR, public_error, redact
from tests.kit.factories import make_job


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("input 0 file 1: HTTP 404", "input 0 file 1: HTTP 404"),
        ("fetch https://x.example/a?sig=1 failed", "fetch <url> failed"),
        ("s3://bucket/key and ipfs://Qm", "<url> and <url>"),
        ("dial tcp 10.96.0.10:53: refused", "dial tcp <address>: refused"),
        ("dial [fd00:ec2::254]:80", "dial <address>"),
        ("node c2d-1[0].algorithm failed", "node c2d-1[0].algorithm failed"),
        ("key 0x" + "ab" * 32 + " refused", "key <redacted> refused"),
        ("image@sha256:" + "ab" * 32, "image@sha256:" + "ab" * 32),
        ("Authorization: Bearer eyJhbGciOi.x.y", "Authorization: Bearer <redacted>"),
        ("token=abc password: hunter2", "token=<redacted> password: <redacted>"),
    ],
)
def test_redact_keeps_the_reason_and_drops_what_is_not_the_consumers(
    text: str, expected: str
) -> None:
    assert redact(text) == expected


def test_redact_keeps_it_short() -> None:
    assert len(redact("word " * 500)) == MAX_PUBLIC_ERROR


def test_a_job_that_ran_through_or_still_runs_has_no_error() -> None:
    running = make_job(status=JobStatus.RUNNING, error="early note")
    assert public_error(running) is None
    done = make_job(status=JobStatus.FINISHED, termination=TerminationDetails(exit_code=0))
    assert public_error(done) is None


def test_failed_provisioning_without_a_stored_reason_still_says_what_failed() -> None:
    assert public_error(make_job(status=JobStatus.DATA_FAILED)) == "an input could not be fetched"
    job = make_job(status=JobStatus.ALGORITHM_FAILED)
    assert public_error(job) == "the algorithm could not be fetched"


def test_reasons_combine_once_each() -> None:
    job = make_job(
        status=JobStatus.FINISHED,
        stopreq=StopReason.DEADLINE,
        termination=TerminationDetails(exit_code=137, oom_killed=True),
        error="publish.log: upload failed",
    )
    assert public_error(job) == (
        "stopped: the time limit ran out; the algorithm ran out of memory (OOMKilled); "
        "publish.log: upload failed"
    )
    same = dataclasses.replace(job, error="stopped: the time limit ran out", termination=None)
    assert public_error(same) == "stopped: the time limit ran out"
