"""Factories for the domain objects tests need: specs, new and stored jobs, environments.

One home for "a job" in every test folder; each factory takes keyword overrides of the domain
type's fields, so a test names only what it is about.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from operator_argo.domain.environment import Environment
from operator_argo.domain.job import (
    Address,
    AlgorithmSpec,
    ContainerSpec,
    InputSpec,
    Job,
    JobId,
    JobSpec,
    NewJob,
)
from operator_argo.domain.status import JobStatus
from operator_argo.engines.argo.builder_request import job_from_request

OWNER = Address("0x" + "ab" * 20)
REQUESTS = Path(__file__).resolve().parents[2] / "templates" / "requests"  # the rendered examples
CONTAINER = ContainerSpec(entrypoint="python $ALGO", image="python", tag="3.11")


def make_spec(
    *,
    rawcode: str = "print('hi')",
    urls: Sequence[str] = ("http://127.0.0.1:1/a.csv",),
    entrypoint: str = "python $ALGO",
    inputs: Sequence[InputSpec] | None = None,
    metadata_uri: str | None = None,
    algorithm_urls: Sequence[str] = (),
    **algorithm: Any,
) -> JobSpec:
    """A one-stage spec: `inputs`, or else one URL input (none when `urls` is empty), and a
    raw-code algorithm (or one at `algorithm_urls`) whose AlgorithmSpec fields `algorithm`
    overrides (did, remote, custom_data...)."""
    if inputs is None:
        inputs = (InputSpec(index=0, did="did:op:" + "ab" * 32, urls=tuple(urls)),) if urls else ()
    container = dataclasses.replace(CONTAINER, entrypoint=entrypoint)
    fields = {"did": None, "container": container, "rawcode": rawcode} | algorithm
    fields["urls"] = tuple(algorithm_urls)
    return JobSpec(
        inputs=tuple(inputs), algorithm=AlgorithmSpec(**fields), metadata_uri=metadata_uri
    )


def new_id() -> JobId:
    return JobId(uuid.uuid4().hex)


def _fields(environment: str) -> dict[str, Any]:
    return {
        "job_id": new_id(),
        "owner": OWNER,
        "agreement_id": f"agr-{uuid.uuid4().hex}",
        "environment": environment,
        "spec": make_spec(),
    }


def new_job(environment: str = "env-a", **overrides: Any) -> NewJob:
    """A job as POST /compute hands it to the store: fresh id and agreement id."""
    return NewJob(**(_fields(environment) | overrides))


def make_job(environment: str = "env-a", **overrides: Any) -> Job:
    """A job as the store returns it: queued, created now, unless overridden."""
    stored = {"status": JobStatus.QUEUED, "date_created": dt.datetime.now(dt.UTC)}
    return Job(**(_fields(environment) | stored | overrides))


def job_from_example(
    name: str = "published-algo.json", *, job_id: str, now: dt.datetime, **request: Any
) -> Job:
    """The job POST /compute makes of one of templates/requests' bodies, with request fields
    overridden (the workflow builder's and the chart's tests build from these)."""
    body = json.loads((REQUESTS / name).read_text(encoding="utf-8")) | request
    return job_from_request(body, job_id=job_id, now=now)


def make_environment(env_id: str = "env-a", **overrides: Any) -> Environment:
    """An environment whose namespace is its id, with the domain's defaults otherwise."""
    fields: dict[str, Any] = {"id": env_id, "namespace": env_id}
    return Environment(**(fields | overrides))


def compute_body(
    input_urls: Sequence[str],
    *,
    owner: str,
    environment: str,
    namespace: str | None = None,
    code: str = "",
    algorithm_url: str | None = None,
    image: str = "python",
    tag: str = "3.11",
    entrypoint: str = "python $ALGO",
) -> dict[str, Any]:
    """A POST /compute body as a provider sends it: one dataset at ``input_urls`` and either raw
    ``code`` or an algorithm at ``algorithm_url``; fresh ids and nonce each time."""
    algorithm: dict[str, Any] = {
        "id": "",
        "rawcode": "" if algorithm_url is not None else code,
        "container": {"entrypoint": entrypoint, "image": image, "tag": tag},
    }
    if algorithm_url is not None:
        algorithm["url"] = [algorithm_url]
    stage = {
        "index": 0,
        "input": [{"index": 0, "id": "did:op:" + uuid.uuid4().hex * 2, "url": list(input_urls)}],
        "compute": {"Instances": 1, "namespace": namespace or environment, "maxtime": 60},
        "algorithm": algorithm,
        "output": {},
    }
    return {
        "workflow": {"stages": [stage]},
        "agreementId": "0x" + uuid.uuid4().hex * 2,
        "owner": owner,
        "providerSignature": "",
        "environment": environment,
        "nonce": uuid.uuid4().int >> 64,
    }
