"""S3-compatible result storage (AWS S3, MinIO, Ceph) through the minio SDK, off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error

from operator_argo.config import S3Settings
from operator_argo.domain.errors import (
    ConfigurationError,
    NotFound,
    OperatorError,
    RangeNotSatisfiable,
    Unavailable,
)
from operator_argo.storage.base import READ_CHUNK_BYTES, check_job_id, check_key

T = TypeVar("T")
_READ_BYTES = 1024 * 1024  # one thread hop per MiB, handed out in 64 KiB chunks
_MISSING = {"NoSuchKey", "NoSuchObject", "NoSuchBucket"}


def _endpoint(settings: S3Settings) -> tuple[str, bool]:
    """host[:port] and whether to use https; a URL's scheme wins over `secure`."""
    raw = settings.endpoint or "s3.amazonaws.com"
    if "://" in raw:
        parts = urlsplit(raw)
        return parts.netloc, parts.scheme == "https"
    return raw, settings.secure


def _translate(exc: Exception, key: str) -> OperatorError:
    """One place for SDK errors; messages name the key, never the endpoint or credentials."""
    if isinstance(exc, S3Error):
        if exc.code in _MISSING:
            return NotFound(f"no stored result {key}")
        if exc.code == "InvalidRange":
            return RangeNotSatisfiable(f"range outside stored result {key}")
        return Unavailable(f"S3 storage refused {key}: {exc.code}")
    return Unavailable(f"S3 storage unreachable ({type(exc).__name__})")


class S3Storage:
    """Results as objects `<prefix>/<jobId>/<filename>` in one bucket."""

    def __init__(self, settings: S3Settings, *, timeout: float = 60.0) -> None:
        endpoint, secure = _endpoint(settings)
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=min(timeout, 10.0), read=timeout),
            retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=(502, 503, 504)),
        )
        self._client = Minio(
            endpoint,
            access_key=settings.access_key or None,
            secret_key=settings.secret_key or None,
            secure=secure,
            region=settings.region or None,
            http_client=http,
        )
        self._http = http
        self.bucket = settings.bucket
        self.prefix = settings.prefix.strip("/")

    def object_name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def _call(self, key: str, func: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(func)
        except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _translate(exc, key) from exc
        except ValueError as exc:  # the SDK's own checks of bucket and object names
            raise ConfigurationError(f"S3 storage rejected the bucket or key of {key}") from exc

    async def put_file(self, key: str, path: Path) -> str:
        name = self.object_name(key)
        await self._call(key, lambda: self._client.fput_object(self.bucket, name, str(path)))
        return key

    async def size(self, key: str) -> int:
        name = self.object_name(key)
        stat = await self._call(key, lambda: self._client.stat_object(self.bucket, name))
        return int(stat.size or 0)

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        name = self.object_name(key)
        if end is not None and end <= start:
            return  # minio reads "length 0" as "to the end"
        length = 0 if end is None else end - start
        response = await self._call(
            key, lambda: self._client.get_object(self.bucket, name, offset=start, length=length)
        )
        try:
            while True:
                block = await self._call(key, lambda: response.read(_READ_BYTES))
                if not block:
                    return
                for offset in range(0, len(block), READ_CHUNK_BYTES):
                    yield block[offset : offset + READ_CHUNK_BYTES]
        finally:
            response.close()
            response.release_conn()

    async def delete_job(self, job_id: str, keys: Sequence[str]) -> None:
        del keys  # everything of a job lives under its prefix
        folder = f"{check_job_id(job_id)}/"
        prefix = f"{self.prefix}/{folder}" if self.prefix else folder
        errors = await self._call(job_id, lambda: list(self._delete_prefix(prefix)))
        if errors:
            raise Unavailable(f"S3 storage kept {len(errors)} result(s) of job {job_id}")

    def _delete_prefix(self, prefix: str) -> Iterator[str]:
        listing = self._client.list_objects(self.bucket, prefix=prefix, recursive=True)
        targets = [DeleteObject(item.object_name) for item in listing if item.object_name]
        for error in self._client.remove_objects(self.bucket, targets):
            yield str(error.code)

    async def close(self) -> None:
        self._http.clear()
