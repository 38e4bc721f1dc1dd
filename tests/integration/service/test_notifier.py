"""The notice loop on a real database and a real receiver on 127.0.0.1, in virtual time."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from operator_argo.auth.notices import EnvironmentSigner
from operator_argo.config import Settings
from operator_argo.domain.environment import Environment, KeySource
from operator_argo.domain.errors import Unavailable
from operator_argo.domain.job import JobUpdate
from operator_argo.domain.status import JobStatus
from operator_argo.notify.sender import HttpNoticeSender
from operator_argo.observability import metrics
from operator_argo.service.notifier import BATCH, Notifier
from operator_argo.store.database import Database
from operator_argo.store.lifecycle import job_store
from operator_argo.store.notices import PostgresNoticeStore
from tests.fakes.receiver import NoticeReceiver
from tests.kit.clock import VirtualClock
from tests.kit.factories import new_job

KEY = "0x" + "7d" * 32


@pytest.fixture
async def receiver() -> AsyncIterator[NoticeReceiver]:
    up = NoticeReceiver()
    await up.start()
    yield up
    await up.stop()


@pytest.fixture
def make_settings(settings_factory: Callable[..., Settings]) -> Callable[..., Settings]:
    def make(receiver: NoticeReceiver, **overrides: Any) -> Settings:
        environment = Environment(
            id="env-a",
            namespace="ns-a",
            key=KeySource(env="ENV_A_KEY"),
            consumer_address=signer().address("env-a"),
        )
        fields: dict[str, Any] = {
            "environments": (environment,),
            "notify_start_url": receiver.url("/start"),
            "notify_stop_url": receiver.url("/stop"),
            "notify_timeout": 0.5,
            "notify_backoff_cap": 5.0,
        }
        return settings_factory(**(fields | overrides))

    return make


def signer() -> EnvironmentSigner:
    environment = Environment(id="env-a", namespace="ns-a", key=KeySource(env="ENV_A_KEY"))
    return EnvironmentSigner.for_environments([environment], {"ENV_A_KEY": KEY})


async def started_job(settings: Settings, database: Database) -> str:
    """A job of env-a claimed (its start notice stored) and finished (its finish notice)."""
    store = job_store(database, settings)
    job = await store.insert_job(new_job("env-a"))
    assert await store.claim_batch("env-a", 5, 5)
    await store.apply_update(job.job_id, JobUpdate(status=JobStatus.FINISHED, finished=True))
    return job.job_id


@pytest.fixture
async def senders() -> AsyncIterator[list[HttpNoticeSender]]:
    """The HTTP senders a test makes, closed after it."""
    made: list[HttpNoticeSender] = []
    yield made
    for sender in made:
        await sender.close()


@pytest.fixture
def make_notifier(database: Database, senders: list[HttpNoticeSender]) -> Callable[..., Notifier]:
    def make(settings: Settings, clock: VirtualClock, store: Any = None) -> Notifier:
        sender = HttpNoticeSender(timeout=settings.notify_timeout)
        senders.append(sender)
        notices = store or PostgresNoticeStore(database)
        return Notifier(settings, notices, sender, signer(), clock=clock)

    return make


@pytest.fixture
def prepare(
    make_settings: Callable[..., Settings],
    make_notifier: Callable[..., Notifier],
    database: Database,
    receiver: NoticeReceiver,
) -> Callable[..., Any]:
    """`await prepare(**settings)`: one notified job stored, and the loop in manual virtual time
    (starting just after the notices were stored)."""

    async def make(store: Any = None, **overrides: Any) -> tuple[Notifier, VirtualClock, str]:
        settings = make_settings(receiver, **overrides)
        job_id = await started_job(settings, database)
        auto = store is not None  # the running loop sleeps by itself
        clock = VirtualClock(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1), auto=auto)
        return make_notifier(settings, clock, store), clock, job_id

    return make


def counted(kind: str, outcome: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "operator_argo_notices_total", {"kind": kind, "outcome": outcome}
    )
    return value or 0.0


async def test_every_notice_arrives_once_signed_by_the_environments_key(
    prepare: Callable[..., Any], database: Database, receiver: NoticeReceiver
) -> None:
    loop, _, job_id = await prepare()
    before = counted("finish", "delivered")
    assert await loop.run_once() == 2
    assert await loop.run_once() == 0  # delivered: never again
    got = {item.path: item for item in receiver.received}
    assert set(got) == {"/start", "/stop"}
    assert got["/start"].body["noticeId"] == f"{job_id}/start"
    assert got["/stop"].body["status"] == 70 and got["/stop"].body["dateFinished"]
    address = signer().address("env-a")
    assert all(item.signer == item.claimed == address for item in got.values())
    assert counted("finish", "delivered") == before + 1


async def test_a_refusing_receiver_is_retried_with_capped_backoff_until_it_accepts(
    prepare: Callable[..., Any], database: Database, receiver: NoticeReceiver
) -> None:
    loop, clock, _ = await prepare(notify_stop_url="")  # one notice: the start
    receiver.refuse = 6
    failed_before = counted("start", "failed")
    attempted_at = []
    for second in range(30):
        if await loop.run_once():
            attempted_at.append(second)
        await clock.advance(1)
    # 1 s, 2 s, 4 s, then the 5 s cap, and the seventh attempt is accepted.
    assert attempted_at == [0, 1, 3, 7, 12, 17, 22]
    assert len(receiver.received) == 1 and receiver.attempts == 7
    assert counted("start", "failed") == failed_before + 6


async def test_a_notice_nobody_accepts_is_given_up_when_it_expires(
    prepare: Callable[..., Any], database: Database, receiver: NoticeReceiver
) -> None:
    loop, clock, _ = await prepare(notify_stop_url="", notify_expiry=10)
    receiver.refuse = 1_000
    given_up = counted("start", "given_up")
    for _ in range(20):
        await loop.run_once()
        await clock.advance(1)
    assert receiver.attempts == 4  # at 0, 1, 3 and 7 s; at 12 s it had expired
    assert counted("start", "given_up") == given_up + 1
    await clock.advance(3600)
    assert await loop.run_once() == 0


async def test_a_hanging_receiver_costs_an_attempt_its_timeout_not_more(
    prepare: Callable[..., Any], database: Database, receiver: NoticeReceiver
) -> None:
    loop, _, _ = await prepare()
    receiver.hang = 600.0
    async with asyncio.timeout(30):  # a hang guard: the attempts end at their 0.5 s timeout
        assert await loop.run_once() == 2  # both posted at once, both cut off
    assert receiver.received == [] and receiver.attempts == 2
    async with database.connection() as conn:
        cur = await conn.execute("SELECT last_error FROM notices WHERE delivered_at IS NULL")
        errors = [row["last_error"] for row in await cur.fetchall()]
    assert len(errors) == 2 and all("could not be reached" in error for error in errors)


async def test_two_replicas_deliver_each_notice_once(
    make_settings: Callable[..., Settings],
    make_notifier: Callable[..., Notifier],
    database: Database,
    receiver: NoticeReceiver,
) -> None:
    settings = make_settings(receiver)
    for _ in range(BATCH):
        await started_job(settings, database)
    clock = VirtualClock(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1), auto=False)
    first, second = make_notifier(settings, clock), make_notifier(settings, clock)
    while await asyncio.gather(first.run_once(), second.run_once()) != [0, 0]:
        pass
    ids = [item.body["noticeId"] for item in receiver.received]
    assert len(ids) == 2 * BATCH == len(set(ids))


async def test_a_database_outage_backs_the_loop_off_in_virtual_time(
    prepare: Callable[..., Any], database: Database, receiver: NoticeReceiver
) -> None:
    class DownTwice(PostgresNoticeStore):
        calls = 0

        async def claim_due_notices(self, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls <= 2:
                raise Unavailable("the database is not reachable")
            return await super().claim_due_notices(*args, **kwargs)

    loop, clock, _ = await prepare(store=DownTwice(database))
    task = asyncio.create_task(loop.run())
    try:
        await receiver.wait_for(2, timeout=10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert clock.slept[:2] == [0.25, 0.5]  # the loop backed off, then delivered
