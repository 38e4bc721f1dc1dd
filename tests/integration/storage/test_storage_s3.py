"""The S3 result storage (minio SDK) against a real S3 API: moto's server on 127.0.0.1."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from minio import Minio

from operator_argo.config import S3Settings, Settings
from operator_argo.domain.errors import ConfigurationError, InvalidRequest, NotFound, Unavailable
from operator_argo.domain.job import ResultFile
from operator_argo.storage.base import READ_CHUNK_BYTES
from operator_argo.storage.factory import open_result_reader
from operator_argo.storage.s3 import S3Storage
from tests.fakes.s3server import S3Server

pytestmark = pytest.mark.slow  # the first run builds moto's venv

JOB = "0123456789abcdef0123456789abcdef"
OTHER_JOB = "fedcba9876543210fedcba9876543210"
DATA = bytes(range(256)) * 1000


def _settings(server: S3Server, bucket: str) -> S3Settings:
    return S3Settings(
        endpoint=server.endpoint,
        bucket=bucket,
        prefix="results",
        region=server.region,
        access_key=server.access_key,
        secret_key=server.secret_key,
        secure=False,
    )


@pytest.fixture
async def s3(s3_server: S3Server) -> AsyncIterator[S3Storage]:
    bucket = f"results-{uuid.uuid4().hex[:12]}"
    admin = Minio(
        s3_server.endpoint,
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key,
        secure=False,
        region=s3_server.region,
    )
    admin.make_bucket(bucket)
    storage = S3Storage(_settings(s3_server, bucket), timeout=10)
    yield storage
    await storage.close()


async def _collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "out.bin"
    path.write_bytes(DATA)
    return path


async def test_write_size_ranged_reads_and_delete(s3: S3Storage, source: Path) -> None:
    key = await s3.put_file(f"{JOB}/out.bin", source)
    other = await s3.put_file(f"{OTHER_JOB}/out.bin", source)
    assert key == f"{JOB}/out.bin"
    assert await s3.size(key) == len(DATA)
    chunks = [chunk async for chunk in s3.read(key)]
    assert b"".join(chunks) == DATA
    assert max(len(chunk) for chunk in chunks) == READ_CHUNK_BYTES
    assert await _collect(s3.read(key, 1000, 1010)) == DATA[1000:1010]
    assert await _collect(s3.read(key, 250_000)) == DATA[250_000:]
    assert await _collect(s3.read(key, 7, 7)) == b""
    await s3.delete_job(JOB, [key])
    with pytest.raises(NotFound):
        await s3.size(key)
    assert await s3.size(other) == len(DATA)  # another job's results stay


async def test_objects_live_under_the_prefix(
    s3: S3Storage, source: Path, s3_server: S3Server
) -> None:
    await s3.put_file(f"{JOB}/out.bin", source)
    admin = Minio(
        s3_server.endpoint,
        access_key="testing",
        secret_key="testing",
        secure=False,
        region=s3_server.region,
    )
    names = [obj.object_name for obj in admin.list_objects(s3.bucket, recursive=True)]
    assert names == [f"results/{JOB}/out.bin"]


async def test_missing_and_malformed_keys(s3: S3Storage) -> None:
    with pytest.raises(NotFound):
        await s3.size(f"{JOB}/missing")
    with pytest.raises(NotFound):
        await _collect(s3.read(f"{JOB}/missing"))
    with pytest.raises(InvalidRequest):
        await s3.size(f"{JOB}/../x")


async def test_result_reader_over_s3(s3_server: S3Server, s3: S3Storage, source: Path) -> None:
    reader = open_result_reader(Settings(storage_backend="s3", s3=_settings(s3_server, s3.bucket)))
    key = await reader.storage.put_file(f"{JOB}/out.bin", source)
    result = ResultFile(filename="out.bin", filesize=len(DATA), type="output", key=key)
    assert await reader.size(result) == len(DATA)
    assert await _collect(reader.read(result, 65_000, 70_000)) == DATA[65_000:70_000]
    await reader.delete_job(JOB, [result])
    with pytest.raises(NotFound):
        await reader.size(result)
    await reader.close()


async def test_an_unreachable_endpoint_is_unavailable_without_leaking(source: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    settings = S3Settings(
        endpoint=f"127.0.0.1:{port}",
        bucket="results",
        access_key="AKIA-SECRET-ID",
        secret_key="very-secret-key",
        secure=False,
        region="us-east-1",
    )
    storage = S3Storage(settings, timeout=2)
    with pytest.raises(Unavailable) as caught:
        await storage.put_file(f"{JOB}/out.bin", source)
    for secret in ("very-secret-key", "AKIA-SECRET-ID", str(port)):
        assert secret not in caught.value.message
    await storage.close()


async def test_a_bucket_name_the_sdk_refuses_is_a_configuration_error(source: Path) -> None:
    storage = S3Storage(S3Settings(endpoint="127.0.0.1:9", bucket="b", secure=False))
    with pytest.raises(ConfigurationError):
        await storage.put_file(f"{JOB}/out.bin", source)
