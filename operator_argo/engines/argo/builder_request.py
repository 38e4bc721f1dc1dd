"""A POST /compute request body turned into a domain Job, for rendering workflows offline.

It is parsed exactly as the API parses it (wire/), so a body renders only if the operator would
accept it; the signature and nonce are not read (there is no caller to check).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from operator_argo.domain.job import Address, Job, JobId
from operator_argo.domain.status import JobStatus
from operator_argo.wire.shapes import parse_start
from operator_argo.wire.stage import parse_workflow


def job_from_request(body: Mapping[str, Any], *, job_id: str, now: dt.datetime) -> Job:
    """A queued Job for a POST /compute body, created at `now` with id `job_id`."""
    request = parse_start(body, signed=False)
    return Job(
        job_id=JobId(job_id),
        owner=Address(request.owner),
        agreement_id=request.agreement_id,
        environment=request.environment,
        spec=parse_workflow(request.workflow),
        status=JobStatus.QUEUED,
        date_created=now,
        chain_id=request.chain_id,
        provider_address=request.provider_address,
        valid_until=request.valid_until,
    )
