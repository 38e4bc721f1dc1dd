"""Notice bodies: exactly what a receiver gets, the same bytes at every attempt, no secrets."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from operator_argo.domain.job import JobId
from operator_argo.domain.notice import Notice, NoticeKind, is_receiver_url, notice_body
from operator_argo.domain.status import JobStatus
from tests.kit import factories

CREATED = dt.datetime(2030, 1, 1, 12, 0, 0, 250_000, tzinfo=dt.UTC)
FINISHED = CREATED + dt.timedelta(minutes=5)


def notice(kind: NoticeKind, reported: JobStatus, **job: object) -> Notice:
    stored = factories.make_job(
        "gpu", job_id=JobId("e" * 32), date_created=CREATED, agreement_id="0xagreement", **job
    )
    return Notice(job=stored, kind=kind, status=reported, created_at=CREATED, attempts=1)


def test_a_finish_notice_names_the_job_its_status_and_when_it_ended() -> None:
    done = notice(
        NoticeKind.FINISH, JobStatus.FINISHED, status=JobStatus.FINISHED, date_finished=FINISHED
    )
    body = notice_body(done)
    assert json.loads(body) == {
        "noticeId": "e" * 32 + "/finish",
        "event": "finish",
        "jobId": "e" * 32,
        "environment": "gpu",
        "owner": factories.OWNER,
        "agreementId": "0xagreement",
        "algoDID": "raw",
        "DID": ["did:op:" + "ab" * 32],
        "status": 70,
        "statusText": "Job finished",
        "dateCreated": "1893499200.250000",
        "dateFinished": "1893499500.250000",
    }
    assert body == notice_body(dataclasses.replace(done, attempts=7))  # every attempt alike
    assert (
        b'", "' not in body
        and b'": ' not in body
        and body.index(b'"DID"') < body.index(b'"agreementId"')
    )  # sorted


def test_a_start_notice_reports_the_status_it_was_stored_with() -> None:
    started = notice(NoticeKind.START, JobStatus.QUEUED, status=JobStatus.RUNNING)
    data = json.loads(notice_body(started))
    assert (data["event"], data["status"], data["statusText"]) == ("start", 1, "Warming up")
    assert data["dateFinished"] is None
    assert data["noticeId"].endswith("/start")


def test_no_secret_reaches_a_notice() -> None:
    body = notice_body(notice(NoticeKind.START, JobStatus.QUEUED)).decode()
    spec = factories.make_spec()
    for secret in (spec.algorithm.rawcode, spec.inputs[0].urls[0], "http"):
        assert secret not in body


def test_receivers_are_http_urls_with_a_host() -> None:
    assert is_receiver_url("https://billing.internal:8443/c2d/start")
    assert is_receiver_url("http://127.0.0.1:9000/")
    for bad in ("ftp://host/x", "http://", "billing.internal/start", "", "http://[::1"):
        assert not is_receiver_url(bad)
