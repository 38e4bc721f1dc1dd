"""Start and finish notices end to end: real jobs on the local engine, through the HTTP API, to
a receiver on 127.0.0.1 that is down for a while (across a restart of the operator), then up."""

from __future__ import annotations

import dataclasses
from typing import Any

from operator_argo.config import Settings
from operator_argo.store.database import Database
from tests.e2e.conftest import job_request
from tests.fakes.ocean import FakeOcean
from tests.fakes.receiver import NoticeReceiver
from tests.operatorkit import API, eventually, finished, running_operator, start_job

ALGORITHM = "print('working')\n"


def notifying(settings: Settings, receiver: NoticeReceiver) -> Settings:
    return dataclasses.replace(
        settings,
        notify_start_url=receiver.url("/start"),
        notify_stop_url=receiver.url("/stop"),
        notify_timeout=2.0,
        notify_backoff_cap=1.0,
        notify_interval=0.2,
    )


async def outbox(settings: Settings) -> list[dict[str, Any]]:
    database = Database.from_settings(settings)
    await database.open()
    try:
        async with database.connection() as conn:
            cur = await conn.execute(
                "SELECT job_id, kind, attempts, delivered_at IS NOT NULL AS delivered FROM notices"
            )
            return list(await cur.fetchall())
    finally:
        await database.close()


async def test_every_notice_arrives_once_signed_after_the_receiver_and_a_restart(
    local_settings: Settings, ocean: FakeOcean
) -> None:
    receiver = NoticeReceiver()  # down: nothing listens on its port yet
    settings = notifying(local_settings, receiver)
    async with running_operator(settings) as (_, client):
        jobs = [await start_job(client, job_request(ocean, ALGORITHM)) for _ in range(2)]
        ended = {job_id: await finished(client, job_id) for job_id in jobs}  # not held up
        assert all(job["status"] == 70 for job in ended.values())
        resp = await client.get(f"{API}/environments")
        address = (await resp.json())[0]["consumerAddress"]

        async def all_tried() -> bool:
            rows = await outbox(settings)
            return len(rows) == 4 and all(r["attempts"] >= 1 for r in rows)

        await eventually(all_tried)
    assert not any(row["delivered"] for row in await outbox(settings))

    await receiver.start()
    try:
        async with running_operator(settings):
            received = await receiver.wait_for(4)

            async def all_delivered() -> bool:
                return all(row["delivered"] for row in await outbox(settings))

            await eventually(all_delivered)
    finally:
        await receiver.stop()
    assert len(receiver.received) == 4  # delivered notices are never sent again
    by_id = {item.body["noticeId"]: item for item in received}
    assert sorted(by_id) == sorted(f"{job}/{kind}" for job in jobs for kind in ("start", "finish"))
    for item in received:
        assert item.signer == item.claimed == address
    for job_id, job in ended.items():
        start, finish = by_id[f"{job_id}/start"], by_id[f"{job_id}/finish"]
        assert (start.path, start.body["status"], start.body["dateFinished"]) == ("/start", 1, None)
        assert (finish.path, finish.body["status"]) == ("/stop", 70)
        assert finish.body["dateFinished"] == job["dateFinished"]
        assert finish.body["DID"] == job["inputDID"] and finish.body["algoDID"] == job["algoDID"]


async def test_a_receiver_that_hangs_holds_up_no_job(
    local_settings: Settings, ocean: FakeOcean
) -> None:
    receiver = NoticeReceiver()
    receiver.hang = 600.0
    await receiver.start()
    try:
        settings = dataclasses.replace(notifying(local_settings, receiver), notify_timeout=0.5)
        async with running_operator(settings) as (_, client):
            job_id = await start_job(client, job_request(ocean, ALGORITHM))
            job = await finished(client, job_id)  # within its usual time, while notices hang
            assert job["status"] == 70
            await eventually(lambda: receiver.attempts >= 2)
        assert receiver.received == []
    finally:
        await receiver.stop()
