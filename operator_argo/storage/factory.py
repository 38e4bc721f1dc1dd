"""Choose the result storage backend named by the settings (local, s3 or ipfs)."""

from __future__ import annotations

from collections.abc import Callable

from operator_argo.config import Settings
from operator_argo.domain.errors import ConfigurationError
from operator_argo.domain.ports import ResultReader
from operator_argo.storage.base import ResultStorage, StoredResults


def open_result_storage(settings: Settings, *, timeout: float = 60.0) -> ResultStorage:
    """The backend of `settings.storage_backend`; each SDK is imported only when chosen."""
    backend = settings.storage_backend
    if backend == "local":
        from operator_argo.storage.local import LocalStorage  # noqa: PLC0415

        return LocalStorage(settings.results_dir)
    if backend == "s3":
        from operator_argo.storage.s3 import S3Storage  # noqa: PLC0415

        return S3Storage(settings.s3, timeout=timeout)
    if backend == "ipfs":
        from operator_argo.storage.ipfs import IpfsStorage  # noqa: PLC0415

        return IpfsStorage(settings.ipfs, timeout=timeout)
    raise ConfigurationError(f"unknown result storage {backend!r}")


def open_result_reader(settings: Settings) -> StoredResults:
    """domain.ports.ResultReader for the API and the janitor; close it with `await .close()`."""
    return StoredResults(open_result_storage(settings))


# mypy proves here that StoredResults implements the port the service layer depends on.
_IMPLEMENTS_RESULT_READER: Callable[[ResultStorage], ResultReader] = StoredResults
