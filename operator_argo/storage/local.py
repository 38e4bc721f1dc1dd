"""Local result storage: a directory (Settings.results_dir), one sub-folder per job."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from operator_argo.domain.errors import InvalidRequest, NotFound, Unavailable
from operator_argo.storage.base import READ_CHUNK_BYTES, check_job_id, check_key

_DISK_READ_BYTES = 1024 * 1024  # one thread hop per MiB, handed out in 64 KiB chunks


class LocalStorage:
    """Results as files under `root`: key `<jobId>/<filename>` is `root/<jobId>/<filename>`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, key: str) -> Path:
        """The file of `key`; InvalidRequest for keys that would leave the root."""
        path = self.root.joinpath(*check_key(key).split("/"))
        root = self.root.resolve()
        if not path.resolve().is_relative_to(root):
            raise InvalidRequest(f"invalid result key {key!r}")
        return path

    async def put_file(self, key: str, path: Path) -> str:
        dest = self.path_of(key)
        await asyncio.to_thread(self._copy_atomically, path, dest)
        return key

    @staticmethod
    def _copy_atomically(source: Path, dest: Path) -> None:
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                    shutil.copyfileobj(src, out, _DISK_READ_BYTES)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, dest)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except FileNotFoundError as exc:
            raise NotFound(f"no such file to store: {source.name}") from exc
        except OSError as exc:
            raise Unavailable(f"cannot write result {dest.name}: {exc.strerror}") from exc

    async def size(self, key: str) -> int:
        path = self.path_of(key)
        try:
            return (await asyncio.to_thread(path.stat)).st_size
        except FileNotFoundError:
            raise NotFound(f"no stored result {key}") from None

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        path = self.path_of(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise NotFound(f"no stored result {key}") from None
        try:
            await asyncio.to_thread(handle.seek, start)
            remaining = None if end is None else max(0, end - start)
            while remaining is None or remaining > 0:
                want = _DISK_READ_BYTES if remaining is None else min(_DISK_READ_BYTES, remaining)
                block = await asyncio.to_thread(handle.read, want)
                if not block:
                    return
                if remaining is not None:
                    remaining -= len(block)
                for offset in range(0, len(block), READ_CHUNK_BYTES):
                    yield block[offset : offset + READ_CHUNK_BYTES]
        finally:
            handle.close()

    async def delete_job(self, job_id: str, keys: Sequence[str]) -> None:
        del keys  # everything of a job lives under its folder
        folder = self.root / check_job_id(job_id)
        await asyncio.to_thread(_remove_tree, folder)

    async def close(self) -> None:
        return None


def _remove_tree(folder: Path) -> None:
    try:
        shutil.rmtree(folder)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise Unavailable(f"cannot delete results of {folder.name}: {exc.strerror}") from exc
