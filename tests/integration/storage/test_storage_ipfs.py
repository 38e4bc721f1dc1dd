"""The IPFS result storage against a fake kubo RPC API that insists on its auth headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from operator_argo.config import IpfsSettings, Settings
from operator_argo.domain.errors import InvalidRequest, NotFound, Unavailable
from operator_argo.domain.job import ResultFile
from operator_argo.storage.factory import open_result_reader
from operator_argo.storage.ipfs import IpfsStorage
from tests.fakes.ipfs import API_KEY, CLIENT_ID, FakeIpfs

JOB = "0123456789abcdef0123456789abcdef"
DATA = bytes(range(256)) * 1000


def _settings(fake: FakeIpfs, api_key: str = API_KEY) -> IpfsSettings:
    return IpfsSettings(url=fake.url, api_key=api_key, client_id=CLIENT_ID)


@pytest.fixture
async def ipfs(fake_ipfs: FakeIpfs) -> AsyncIterator[IpfsStorage]:
    storage = IpfsStorage(_settings(fake_ipfs), timeout=10)
    yield storage
    await storage.close()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "out.bin"
    path.write_bytes(DATA)
    return path


async def _collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def test_add_stat_ranged_cat_and_unpin(
    ipfs: IpfsStorage, fake_ipfs: FakeIpfs, source: Path
) -> None:
    cid = await ipfs.put_file(f"{JOB}/out.bin", source)
    assert fake_ipfs.objects[cid] == DATA
    assert await ipfs.size(cid) == len(DATA)
    assert await _collect(ipfs.read(cid)) == DATA
    assert await _collect(ipfs.read(cid, 300, 400)) == DATA[300:400]
    assert await _collect(ipfs.read(cid, 255_000)) == DATA[255_000:]
    assert await _collect(ipfs.read(cid, 9, 9)) == b""
    await ipfs.delete_job(JOB, [cid])
    assert cid not in fake_ipfs.objects
    await ipfs.delete_job(JOB, [cid])  # unpinning twice is fine
    with pytest.raises(NotFound):
        await ipfs.size(cid)


async def test_wrong_credentials_are_refused_and_never_echoed(
    fake_ipfs: FakeIpfs, source: Path
) -> None:
    storage = IpfsStorage(_settings(fake_ipfs, api_key="leaky-secret"), timeout=10)
    with pytest.raises(Unavailable) as caught:
        await storage.put_file(f"{JOB}/out.bin", source)
    await storage.close()
    assert fake_ipfs.refused == 1
    assert "leaky-secret" not in caught.value.message
    assert fake_ipfs.url not in caught.value.message
    assert "leaky-secret" not in repr(storage) and fake_ipfs.url not in repr(storage)


async def test_keys_must_be_cids(ipfs: IpfsStorage) -> None:
    with pytest.raises(InvalidRequest):
        await ipfs.size(f"{JOB}/out.bin")
    with pytest.raises(InvalidRequest):
        await _collect(ipfs.read("../x"))


async def test_an_unreachable_node_is_unavailable(fake_ipfs: FakeIpfs) -> None:
    storage = IpfsStorage(IpfsSettings(url="http://127.0.0.1:9", api_key=API_KEY), timeout=2)
    with pytest.raises(Unavailable) as caught:
        await storage.size("bafk0")
    await storage.close()
    assert "127.0.0.1" not in caught.value.message


async def test_result_reader_over_ipfs(
    fake_ipfs: FakeIpfs, ipfs: IpfsStorage, source: Path
) -> None:
    cid = await ipfs.put_file(f"{JOB}/out.bin", source)
    reader = open_result_reader(Settings(storage_backend="ipfs", ipfs=_settings(fake_ipfs)))
    result = ResultFile(filename="out.bin", filesize=len(DATA), type="output", key=cid)
    assert await reader.size(result) == len(DATA)
    assert await _collect(reader.read(result, 70_000, 70_100)) == DATA[70_000:70_100]
    await reader.delete_job(JOB, [result])
    assert fake_ipfs.objects == {}
    await reader.close()
