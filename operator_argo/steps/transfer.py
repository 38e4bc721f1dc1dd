"""HTTP downloads of the configure step: streamed to disk, bounded in time, size and retries.

Messages never contain a URL: dataset and algorithm URLs are secrets of their publishers (the
configure log is handed to the consumer) and provider URLs carry signatures in their query.
Callers pass a `label` ("input 0 file 1") that says what was fetched instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from operator_argo.domain.errors import TransferFailed

CHUNK_BYTES = 1024 * 1024
MAX_JSON_BYTES = 16 * 1024 * 1024
T = TypeVar("T")


class _Retryable(TransferFailed):
    """A failure that may go away: connection trouble, a timeout, 429 or 5xx."""


class ByteBudget:
    """The bytes all downloads of a job may use together (OPERATOR_MAX_INPUT_BYTES)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def check_room(self, size: int, label: str) -> None:
        if self.used + size > self.limit:
            raise TransferFailed(
                f"{label}: {size} bytes would exceed the download limit of {self.limit} bytes"
            )

    def take(self, size: int, label: str) -> None:
        self.used += size
        if self.used > self.limit:
            raise TransferFailed(f"{label}: downloads exceed the limit of {self.limit} bytes")

    def give_back(self, size: int) -> None:
        self.used -= size


def _check_status(resp: aiohttp.ClientResponse, label: str) -> None:
    if resp.status < 300:
        return
    message = f"{label}: HTTP {resp.status}"
    if resp.status == 429 or resp.status >= 500:
        raise _Retryable(message)
    raise TransferFailed(message)


def _check_scheme(url: str, label: str) -> None:
    if not url.lower().startswith(("http://", "https://")):
        raise TransferFailed(f"{label}: only http and https URLs are supported")


class Fetcher:
    """GETs and POSTs with connect/read timeouts and bounded retries with backoff."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        attempts: int,
        log: logging.Logger,
        backoff: float = 0.5,
    ) -> None:
        self._session = session
        self._attempts = max(1, attempts)
        self._log = log
        self._backoff = backoff

    async def _retry(self, label: str, attempt: Callable[[], Awaitable[T]]) -> T:
        for number in range(1, self._attempts + 1):
            try:
                return await attempt()
            except _Retryable as exc:
                if number == self._attempts:
                    raise TransferFailed(
                        f"{exc.message} (gave up after {number} attempts)"
                    ) from exc
                delay = self._backoff * 2 ** (number - 1)
                self._log.warning("%s; retrying in %.1f s", exc.message, delay)
                await asyncio.sleep(delay)
            except (aiohttp.InvalidURL, ValueError) as exc:
                raise TransferFailed(f"{label}: invalid URL") from exc
            except aiohttp.ClientError as exc:
                raise TransferFailed(f"{label}: {type(exc).__name__}") from exc
        raise AssertionError("unreachable")

    async def download(
        self,
        url: str,
        dest: Path,
        budget: ByteBudget,
        *,
        label: str,
        params: Mapping[str, str] | None = None,
    ) -> int:
        """Stream `url` into `dest`; returns the bytes written. A failure leaves no file behind."""
        _check_scheme(url, label)
        return await self._retry(
            label, lambda: self._download_once(url, dest, budget, label, params)
        )

    async def _download_once(
        self,
        url: str,
        dest: Path,
        budget: ByteBudget,
        label: str,
        params: Mapping[str, str] | None,
    ) -> int:
        written = 0
        try:
            async with self._session.get(url, params=params) as resp:
                _check_status(resp, label)
                if resp.content_length is not None:
                    budget.check_room(resp.content_length, label)
                with dest.open("wb") as out:
                    async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
                        written += len(chunk)
                        budget.take(len(chunk), label)
                        out.write(chunk)
            return written
        except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
            self._discard(dest, budget, written)
            raise _Retryable(f"{label}: timed out") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            self._discard(dest, budget, written)
            raise _Retryable(f"{label}: {type(exc).__name__}") from exc
        except BaseException:
            self._discard(dest, budget, written)
            raise

    @staticmethod
    def _discard(dest: Path, budget: ByteBudget, written: int) -> None:
        budget.give_back(written)
        dest.unlink(missing_ok=True)

    async def fetch_json(
        self, url: str, *, label: str, body: Any = None, method: str = "GET"
    ) -> tuple[Any, bytes]:
        """A small JSON document (at most MAX_JSON_BYTES): the parsed value and its raw bytes."""
        _check_scheme(url, label)
        raw = await self._retry(label, lambda: self._fetch_once(method, url, body, label))
        try:
            return json.loads(raw), raw
        except ValueError as exc:
            raise TransferFailed(f"{label}: the answer is not JSON") from exc

    async def _fetch_once(self, method: str, url: str, body: Any, label: str) -> bytes:
        try:
            async with self._session.request(method, url, json=body) as resp:
                _check_status(resp, label)
                data = bytearray()
                async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
                    data += chunk
                    if len(data) > MAX_JSON_BYTES:
                        raise TransferFailed(f"{label}: answer larger than {MAX_JSON_BYTES} bytes")
                return bytes(data)
        except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
            raise _Retryable(f"{label}: timed out") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise _Retryable(f"{label}: {type(exc).__name__}") from exc


def open_session(timeout: float) -> aiohttp.ClientSession:
    """A client session whose connects and reads each time out after `timeout` seconds."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout),
        raise_for_status=False,
    )
