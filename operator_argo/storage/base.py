"""The result storage interface every backend implements, and the API's ResultReader over it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Protocol

from operator_argo.domain.errors import InvalidRequest
from operator_argo.domain.job import ResultFile

READ_CHUNK_BYTES = 64 * 1024


class ResultStorage(Protocol):
    """Where published results live. Keys look like `<jobId>/<filename>` (IPFS: the CID).

    Errors: NotFound for a missing key, InvalidRequest for a malformed key, Unavailable when the
    backend cannot be reached. Messages never contain credentials or backend URLs.
    """

    async def put_file(self, key: str, path: Path) -> str:
        """Store the file at `path` under `key`; returns the key to record (IPFS: the CID)."""

    async def size(self, key: str) -> int:
        """Size in bytes of the stored object."""

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes [start, end) of the object (end None = to the end), in chunks of ~64 KiB."""

    async def delete_job(self, job_id: str, keys: Sequence[str]) -> None:
        """Delete what is stored for `job_id` (`keys`: as recorded by publish); missing is ok."""

    async def close(self) -> None:
        """Release connections."""


def check_job_id(job_id: str) -> str:
    """A job id usable as one path segment or key prefix."""
    if not job_id or not all(c.isalnum() or c in "-_" for c in job_id):
        raise InvalidRequest(f"invalid job id {job_id!r}")
    return job_id


def check_key(key: str) -> str:
    """`<jobId>/<name>[/...]` with no empty, `.` or `..` segments, no backslash or NUL."""
    parts = key.split("/")
    if len(parts) < 2 or "\\" in key or "\0" in key:
        raise InvalidRequest(f"invalid result key {key!r}")
    check_job_id(parts[0])
    if any(part in {"", ".", ".."} for part in parts[1:]):
        raise InvalidRequest(f"invalid result key {key!r}")
    return key


def result_key(job_id: str, filename: str) -> str:
    """The storage key of a published file (CONTRACT conventions: `<jobId>/<filename>`)."""
    return check_key(f"{check_job_id(job_id)}/{filename}")


class StoredResults:
    """domain.ports.ResultReader (and ResultWriter) over a ResultStorage: getResult, expiry and
    receipts use this."""

    def __init__(self, storage: ResultStorage) -> None:
        self.storage = storage

    async def size(self, result: ResultFile) -> int:
        return await self.storage.size(result.key)

    def read(
        self, result: ResultFile, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        return self.storage.read(result.key, start, end)

    async def put_file(self, key: str, path: Path) -> str:
        return await self.storage.put_file(key, path)

    async def delete_job(self, job_id: str, results: Sequence[ResultFile]) -> None:
        await self.storage.delete_job(job_id, [item.key for item in results if item.key])

    async def close(self) -> None:
        await self.storage.close()
