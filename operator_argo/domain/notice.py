"""Notices: the signed messages an environment's receivers get when a job starts and finishes.

A notice is stored (the outbox) in the same statement that stores the change it reports: the
start with the job's claim, before its workflow exists, the finish with its final status. The
operator delivers it later, from its own loop, until a receiver accepts it or it expires, so a
slow or absent receiver never holds up a job and a restart loses none.

What a receiver gets is `notice_body`: compact JSON with sorted keys, the same bytes at every
attempt. Its `noticeId` (`<jobId>/start`, `<jobId>/finish`) is unique, so a receiver that
answers a notice twice (it was delivered, but the answer was lost) can drop the repeat. The
body carries no secret of any kind: ids, addresses, the status and dates only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import urllib.parse

from operator_argo.domain.job import Job, epoch_text
from operator_argo.domain.status import JobStatus

# Headers of a notice's POST: the signature of its body and the address that made it.
SIGNATURE_HEADER = "X-Operator-Signature"
ADDRESS_HEADER = "X-Operator-Address"


class NoticeKind(enum.Enum):
    """Which moment of a job a notice reports."""

    START = "start"  # the job was admitted: its workflow is being created, configure is next
    FINISH = "finish"  # its final status (31, 32 or 70) and dateFinished are stored


@dataclasses.dataclass(frozen=True, kw_only=True)
class Notice:
    """One stored notice, as the delivery loop takes it (with the job it reports on)."""

    job: Job
    kind: NoticeKind
    status: JobStatus  # the job's status at the moment the notice reports
    created_at: dt.datetime
    attempts: int = 0  # delivery attempts so far, the one being made included

    @property
    def notice_id(self) -> str:
        return f"{self.job.job_id}/{self.kind.value}"


def is_receiver_url(text: str) -> bool:
    """Whether `text` can be a receiver's address: an http or https URL with a host."""
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def notice_body(notice: Notice) -> bytes:
    """The exact bytes POSTed to the receiver, and signed (module docstring)."""
    job = notice.job
    finished = job.date_finished if notice.kind is NoticeKind.FINISH else None
    data = {
        "noticeId": notice.notice_id,
        "event": notice.kind.value,
        "jobId": job.job_id,
        "environment": job.environment,
        "owner": job.owner,
        "agreementId": job.agreement_id,
        "algoDID": job.algo_did,
        "DID": job.input_dids,
        "status": int(notice.status),
        "statusText": notice.status.text,
        "dateCreated": epoch_text(job.date_created),
        "dateFinished": None if finished is None else epoch_text(finished),
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
