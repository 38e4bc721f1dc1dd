"""A job's story through the HTTP API: `error` and `statusHistory` in every status object."""

from __future__ import annotations

from typing import Any

import pytest

from operator_argo.domain.job import JobUpdate, TerminationDetails
from operator_argo.domain.status import JobStatus, StopReason
from tests.integration.api.conftest import PREFIX, Api
from tests.kit.store import claim_next

PULL_FAILURE = (
    'the algorithm could not start: ErrImagePull: failed to pull image "registry.example:5000/'
    'algo:1": rpc error: failed to resolve reference: Head "https://registry.example:5000/v2/'
    'algo/manifests/1?token=s3cr3t": dial tcp 10.96.0.10:53: connect: connection refused'
)


async def _status(api: Api, job: dict[str, Any]) -> dict[str, Any]:
    response = await api.client.get(
        f"{PREFIX}/compute", params=api.signed_query(owner=job["owner"], job_id=job["jobId"])
    )
    assert response.status == 200, await response.text()
    (found,) = await response.json()
    return dict(found)


async def _drive(api: Api, job_id: str, *updates: JobUpdate) -> None:
    job = await api.store.get_job(job_id)
    assert job is not None
    await claim_next(api.store, job.environment, 10)
    for update in updates:
        assert await api.store.apply_update(job_id, update) is not None, update


def _statuses(found: dict[str, Any]) -> list[tuple[int, str]]:
    return [(entry["status"], entry["statusText"]) for entry in found["statusHistory"]]


async def test_a_new_job_tells_its_first_status_and_no_error(api: Api) -> None:
    job = await api.start()
    assert job["error"] is None
    assert job["statusHistory"] == [
        {"status": 1, "statusText": "Warming up", "at": job["dateCreated"]}
    ]


async def test_the_history_lists_every_status_with_its_exact_text(api: Api) -> None:
    job = await api.start()
    await _drive(
        api,
        job["jobId"],
        JobUpdate(status=JobStatus.CONFIGURING),
        JobUpdate(status=JobStatus.PROVISIONED),
        JobUpdate(status=JobStatus.RUNNING),
        JobUpdate(status=JobStatus.PUBLISHING),
        JobUpdate(
            status=JobStatus.FINISHED, results=(), termination=TerminationDetails(exit_code=0)
        ),
    )
    found = await _status(api, job)
    assert _statuses(found) == [
        (s.value, s.text) for s in JobStatus if s.value in (1, 20, 30, 40, 60, 70)
    ]
    stamps = [float(entry["at"]) for entry in found["statusHistory"]]
    assert stamps == sorted(stamps) and found["error"] is None
    assert found["statusHistory"][-1]["statusText"] == "Job finished"


async def test_a_failed_input_says_which_input_returned_what_without_its_url(api: Api) -> None:
    job = await api.start()
    why = "input 0 file 1: HTTP 404 at https://data.example/set.csv?sig=abc (gave up)"
    await _drive(
        api,
        job["jobId"],
        JobUpdate(status=JobStatus.CONFIGURING),
        JobUpdate(status=JobStatus.DATA_FAILED, results=(), error=why),
    )
    found = await _status(api, job)
    assert found["error"] == "input 0 file 1: HTTP 404 at <url> (gave up)"
    assert _statuses(found) == [(1, "Warming up"), (20, "Configuring volumes"),
                                (31, "Data provisioning failed")]  # fmt: skip


async def test_an_image_that_cannot_be_pulled_is_told_without_urls_or_addresses(api: Api) -> None:
    job = await api.start()
    await _drive(
        api, job["jobId"], JobUpdate(status=JobStatus.FINISHED, results=(), error=PULL_FAILURE)
    )
    error = (await _status(api, job))["error"]
    assert error.startswith("the algorithm could not start: ErrImagePull: failed to pull image")
    assert "registry.example:5000/algo:1" in error  # the consumer's own image reference
    for secret in ("https://", "s3cr3t", "10.96.0.10", "token="):
        assert secret not in error


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        (
            JobUpdate(status=JobStatus.FINISHED, results=(), stopreq=StopReason.DEADLINE,
                      termination=TerminationDetails(exit_code=143)),
            "stopped: the time limit ran out",
        ),
        (
            JobUpdate(status=JobStatus.FINISHED, results=(),
                      termination=TerminationDetails(exit_code=137, oom_killed=True)),
            "the algorithm ran out of memory (OOMKilled)",
        ),
        (
            JobUpdate(status=JobStatus.FINISHED, results=(),
                      termination=TerminationDetails(exit_code=3)),
            "the algorithm exited with code 3",
        ),
        (
            JobUpdate(status=JobStatus.FINISHED, results=(),
                      error="publish failed for key 0x" + "4c" * 32),
            "publish failed for key <redacted>",
        ),
    ],
)  # fmt: skip
async def test_a_job_cut_short_says_why(api: Api, update: JobUpdate, expected: str) -> None:
    job = await api.start()
    await _drive(api, job["jobId"], JobUpdate(status=JobStatus.RUNNING), update)
    assert (await _status(api, job))["error"] == expected


async def test_a_stopped_job_says_so_in_the_stop_answer_and_later(api: Api) -> None:
    job = await api.start()
    query = api.signed_query(owner=job["owner"], job_id=job["jobId"])
    response = await api.client.put(f"{PREFIX}/compute", params=query)
    (stopped,) = await response.json()
    assert stopped["error"] == "stopped on request before the algorithm started"
    assert _statuses(stopped) == [(1, "Warming up"), (70, "Job finished")]
    assert (await _status(api, job))["error"] == stopped["error"]


async def test_a_running_job_has_no_error_yet(api: Api) -> None:
    job = await api.start()
    await _drive(api, job["jobId"], JobUpdate(status=JobStatus.RUNNING, error="noted early"))
    assert (await _status(api, job))["error"] is None


async def test_the_document_describes_both_keys(api: Api) -> None:
    spec = await (await api.client.get("/spec")).json()
    properties = spec["components"]["schemas"]["Status"]["properties"]
    assert "never a URL" in properties["error"]["description"]
    assert properties["statusHistory"]["type"] == "array"
    change = spec["components"]["schemas"]["StatusChange"]
    assert set(change["required"]) == {"status", "statusText", "at"}
