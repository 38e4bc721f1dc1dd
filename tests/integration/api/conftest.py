"""Fixtures of the API tests: the real app on a real PostgreSQL, a recording engine, in-memory
result storage, and a provider key to sign requests with."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from eth_account import Account
from eth_account.signers.local import LocalAccount

from operator_argo.api import create_api
from operator_argo.auth.policy import ProviderAuth
from operator_argo.auth.signatures import sign_text
from operator_argo.config import Settings
from operator_argo.domain.clock import SYSTEM_CLOCK, Clock
from operator_argo.domain.environment import Environment
from operator_argo.domain.errors import NotFound, TransientEngineError
from operator_argo.domain.job import Job, JobFilter, JobUpdate, ResultFile
from operator_argo.domain.names import workflow_name
from operator_argo.domain.observation import Observation
from operator_argo.domain.status import JobStatus
from operator_argo.service.jobs import JobService
from operator_argo.store.database import Database
from operator_argo.store.jobs import PostgresJobStore
from operator_argo.store.migrate import migrate
from tests.kit.data import OCEAN_EXAMPLES as EXAMPLES

PREFIX = "/api/v1/operator"
ADMIN = "0xAdm1n000000000000000000000000000000000001"
ENVIRONMENTS = (
    Environment(
        id="ocean-compute",
        namespace="ocean-compute",
        allowed_chain_ids=(8996, 1),
        consumer_address="0x3db8d2AEf9A1d1584adD1aDDfb7728fe64d18c3F",
        max_jobs=3,
    ),
    Environment(id="gpu", namespace="ns-gpu", gpu_number=1, ram_gb=64, allowed_chain_ids=(137,)),
    Environment(id="anychain", namespace="ns-any", price_min=0.5, storage_expiry=60),
)
_nonces = itertools.count(time.time_ns())


def example(name: str, folder: Path = EXAMPLES) -> Any:
    """An example body of the contract (or from `folder`), without its `_comment`."""
    body = json.loads((folder / name).read_text())
    if isinstance(body, dict):
        body.pop("_comment", None)
    return body


def next_nonce() -> int:
    """A fresh 19-digit nonce, like the provider's time.time_ns()."""
    return next(_nonces)


class RecordingEngine:
    """Engine fake: records the stops it is asked for; can be told to fail them."""

    def __init__(self) -> None:
        self.stopped: list[str] = []
        self.fail_stop = False
        self.logs: dict[str, asyncio.Queue[bytes | None]] = {}  # what follow_log yields; None ends

    async def submit(self, job: Job, environment: Environment) -> str:
        return workflow_name(job.job_id)

    async def stop(self, job: Job) -> None:
        self.stopped.append(job.job_id)
        if self.fail_stop:
            raise TransientEngineError("cluster unreachable")

    async def delete(self, job: Job) -> None:
        return None

    async def follow_log(self, job: Job) -> AsyncIterator[bytes]:
        queue = self.logs.get(job.job_id)
        if queue is None:
            raise NotFound("no algorithm running")
        while (chunk := await queue.get()) is not None:
            yield chunk

    async def run(self, sink: Callable[[Observation], Awaitable[None]]) -> None:
        await asyncio.Event().wait()


class MemoryResults:
    """ResultReader fake: files in a dict, streamed in small chunks."""

    chunk = 7

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.deleted: list[str] = []
        self.broken = False  # size() then fails like a storage SDK bug would

    def put(self, job_id: str, filename: str, data: bytes, kind: str = "output") -> ResultFile:
        key = f"{job_id}/{filename}"
        self.files[key] = data
        return ResultFile(filename=filename, filesize=len(data), type=kind, key=key)

    async def size(self, result: ResultFile) -> int:
        if self.broken:
            raise RuntimeError(f"storage client bug at http://storage.invalid/{result.key}")
        if result.key not in self.files:
            raise NotFound("result file is gone")
        return len(self.files[result.key])

    async def read(
        self, result: ResultFile, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        data = self.files[result.key][start:end]
        for offset in range(0, len(data), self.chunk):
            await asyncio.sleep(0)
            yield data[offset : offset + self.chunk]

    async def delete_job(self, job_id: str, results: Sequence[ResultFile]) -> None:
        for item in results:
            self.files.pop(item.key, None)
        self.deleted.append(job_id)


@dataclasses.dataclass(kw_only=True)
class Api:
    """The API under test and what stands behind it."""

    client: TestClient
    store: PostgresJobStore
    engine: RecordingEngine
    results: MemoryResults
    settings: Settings
    provider: LocalAccount
    service: JobService

    def sign(self, *parts: str, nonce: int, key: Any = None) -> str:
        return sign_text("".join(parts) + str(nonce), key or self.provider.key)

    def start_body(
        self, name: str = "POST-compute.request.provider-v2.1.6.raw-algo.json", **overrides: Any
    ) -> dict[str, Any]:
        """An example body with a fresh agreementId, a fresh, signed 19-digit nonce and, when it
        has one, a validUntil an hour ahead (an example's own is long past: preflight)."""
        body = example(name)
        body["agreementId"] = "0x" + uuid.uuid4().hex * 2
        body["nonce"] = next_nonce()
        if "validUntil" in body:
            body["validUntil"] = int(time.time()) + 3600
        body.update(overrides)
        if "providerSignature" not in overrides:
            body["providerSignature"] = self.sign(str(body["owner"]), nonce=body["nonce"])
        return body

    async def start(self, **overrides: Any) -> dict[str, Any]:
        """POST a job and return its status object."""
        response = await self.client.post(f"{PREFIX}/compute", json=self.start_body(**overrides))
        assert response.status == 200, await response.text()
        (job,) = await response.json()
        return dict(job)

    def signed_query(self, owner: str = "", job_id: str = "", **extra: str) -> dict[str, str]:
        nonce = next_nonce()
        query = {"providerSignature": self.sign(owner, job_id, nonce=nonce), "nonce": str(nonce)}
        if owner:
            query["owner"] = owner
        if job_id:
            query["jobId"] = job_id
        query.update(extra)
        return query

    async def finish(
        self, job_id: str, files: dict[str, bytes], kinds: dict[str, str] | None = None
    ) -> Job:
        """Drive a stored job to 70 with published results (of type `output` unless `kinds`
        names another), as the reconciler would."""
        kinds = kinds or {}
        results = tuple(
            self.results.put(job_id, name, data, kinds.get(name, "output"))
            for name, data in files.items()
        )
        job = await self.store.apply_update(
            job_id, JobUpdate(status=JobStatus.FINISHED, finished=True, results=results)
        )
        assert job is not None
        return job

    async def jobs(self, **flt: str) -> list[Job]:
        return await self.store.find_jobs(JobFilter(**flt))


ApiFactory = Callable[..., Awaitable[Api]]


@pytest.fixture
async def make_api(
    aiohttp_client: Any, settings_factory: Callable[..., Settings], database: Database
) -> ApiFactory:
    """`await make_api(clock=..., **settings_overrides)`: the app with signatures required by
    default, on the system clock unless told otherwise."""

    async def make(*, clock: Clock = SYSTEM_CLOCK, **overrides: Any) -> Api:
        provider = Account.create()
        fields: dict[str, Any] = {
            "signature_required": True,
            "allowed_providers": frozenset({provider.address.lower()}),
            "allowed_admins": frozenset({ADMIN.lower()}),
            "environments": ENVIRONMENTS,
            "operator_address": "0x6D39A833d1a6789AECa50dB85CB830bc08319F45",
            "storage_expiry": 0,
        }
        fields.update(overrides)
        settings = settings_factory(**fields)
        store = PostgresJobStore(database, nonce_window=settings.nonce_window)
        engine = RecordingEngine()
        results = MemoryResults()
        auth = ProviderAuth(settings)
        service = JobService(settings, store, engine, results, auth=auth, clock=clock)
        app = create_api(settings, service, ready=store.ping, migrate=lambda: migrate(database))
        client = await aiohttp_client(app)
        return Api(
            client=client,
            store=store,
            engine=engine,
            results=results,
            settings=settings,
            provider=provider,
            service=service,
        )

    return make


@pytest.fixture
async def api(make_api: ApiFactory) -> Api:
    return await make_api()


def deep_copy(body: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(body)
