"""First light: the raw-algorithm example is accepted and listed."""

from __future__ import annotations

from tests.integration.api.conftest import PREFIX, Api


async def test_post_then_get(api: Api) -> None:
    job = await api.start()
    assert job["status"] == 1
    query = api.signed_query(owner=job["owner"], job_id=job["jobId"])
    response = await api.client.get(f"{PREFIX}/compute", params=query)
    assert response.status == 200, await response.text()
    assert [item["jobId"] for item in await response.json()] == [job["jobId"]]
