"""The local result storage: atomic writes, ranged reads, deletion, keys that try to escape."""

from __future__ import annotations

from pathlib import Path

import pytest

from operator_argo.config import Settings
from operator_argo.domain.errors import InvalidRequest, NotFound
from operator_argo.domain.job import ResultFile
from operator_argo.storage.base import READ_CHUNK_BYTES, result_key
from operator_argo.storage.factory import open_result_reader, open_result_storage
from operator_argo.storage.local import LocalStorage

JOB = "0123456789abcdef0123456789abcdef"
DATA = bytes(range(256)) * 1000  # 256,000 bytes


async def _collect(chunks: object) -> bytes:
    return b"".join([chunk async for chunk in chunks])  # type: ignore[attr-defined]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.bin"
    path.write_bytes(DATA)
    return path


async def test_write_size_read_ranges_and_delete(tmp_path: Path, source: Path) -> None:
    storage = LocalStorage(tmp_path / "results")
    key = await storage.put_file(result_key(JOB, "out.bin"), source)
    assert key == f"{JOB}/out.bin"
    assert await storage.size(key) == len(DATA)
    chunks = [chunk async for chunk in storage.read(key)]
    assert b"".join(chunks) == DATA
    assert max(len(chunk) for chunk in chunks) == READ_CHUNK_BYTES
    assert await _collect(storage.read(key, 10, 20)) == DATA[10:20]
    assert await _collect(storage.read(key, 200_000)) == DATA[200_000:]
    assert await _collect(storage.read(key, 5, 5)) == b""
    assert await _collect(storage.read(key, 300_000)) == b""
    assert [p.name for p in (tmp_path / "results" / JOB).iterdir()] == ["out.bin"]  # no temp left
    await storage.delete_job(JOB, [key])
    with pytest.raises(NotFound):
        await storage.size(key)
    await storage.delete_job(JOB, [key])  # deleting twice is fine


async def test_overwrite_replaces_the_whole_file(tmp_path: Path, source: Path) -> None:
    storage = LocalStorage(tmp_path / "results")
    key = await storage.put_file(f"{JOB}/out.bin", source)
    source.write_bytes(b"short")
    await storage.put_file(key, source)
    assert await _collect(storage.read(key)) == b"short"


@pytest.mark.parametrize(
    "key",
    [
        "../escape",
        f"{JOB}/../../escape",
        f"{JOB}/./x",
        f"{JOB}//x",
        "/etc/passwd",
        f"{JOB}\\..\\x",
        "onlyjob",
        "job id/x",
    ],
)
async def test_keys_that_leave_the_root_are_rejected(
    tmp_path: Path, source: Path, key: str
) -> None:
    storage = LocalStorage(tmp_path / "results")
    with pytest.raises(InvalidRequest):
        await storage.put_file(key, source)
    with pytest.raises(InvalidRequest):
        await storage.size(key)
    assert not (tmp_path / "escape").exists()


async def test_a_symlinked_job_folder_cannot_lead_outside(tmp_path: Path, source: Path) -> None:
    root = tmp_path / "results"
    root.mkdir()
    (root / JOB).symlink_to(tmp_path)
    storage = LocalStorage(root)
    with pytest.raises(InvalidRequest):
        await storage.put_file(f"{JOB}/source.bin", source)


async def test_missing_results_are_not_found(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "results")
    with pytest.raises(NotFound):
        await storage.size(f"{JOB}/nothing")
    with pytest.raises(NotFound):
        await _collect(storage.read(f"{JOB}/nothing"))


async def test_factory_and_result_reader(tmp_path: Path, source: Path) -> None:
    settings = Settings(storage_backend="local", results_dir=tmp_path / "results")
    storage = open_result_storage(settings)
    key = await storage.put_file(f"{JOB}/out.bin", source)
    reader = open_result_reader(settings)
    result = ResultFile(filename="out.bin", filesize=len(DATA), type="output", key=key)
    assert await reader.size(result) == len(DATA)
    assert await _collect(reader.read(result, 100, 356)) == DATA[100:356]
    await reader.delete_job(JOB, [result])
    assert not (tmp_path / "results" / JOB).exists()
    await reader.close()
