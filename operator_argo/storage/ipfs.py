"""IPFS result storage through a node's HTTP RPC API (add, cat, files/stat, pin/rm).

The node URL and the X-API-KEY / CLIENT-ID headers are credentials: no message, log or result
ever contains them (the original echoed the API key to callers of getResult).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from operator_argo.config import IpfsSettings
from operator_argo.domain.errors import InvalidRequest, NotFound, OperatorError, Unavailable
from operator_argo.storage.base import READ_CHUNK_BYTES


def check_cid(key: str) -> str:
    """An IPFS key is a bare CID (letters and digits)."""
    if not key or not key.isalnum() or not key.isascii():
        raise InvalidRequest(f"invalid IPFS result key {key!r}")
    return key


class IpfsStorage:
    """Results as pinned IPFS objects; the key of a result is its CID."""

    def __init__(self, settings: IpfsSettings, *, timeout: float = 60.0) -> None:
        self._base = settings.url.rstrip("/") + "/api/v0/"
        headers = {"X-API-KEY": settings.api_key, "CLIENT-ID": settings.client_id}
        self._headers = {name: value for name, value in headers.items() if value}
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=min(timeout, 10.0), sock_read=timeout
        )
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return "IpfsStorage()"  # the URL and headers are secrets

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    async def _post(
        self, command: str, key: str, params: Mapping[str, str], data: Any = None
    ) -> aiohttp.ClientResponse:
        """Send one RPC call; the caller must release the response."""
        try:
            resp = await self._client().post(self._base + command, params=params, data=data)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(f"IPFS storage unreachable ({type(exc).__name__})") from None
        if resp.status >= 300:
            body = await resp.read()
            resp.release()
            raise _status_error(resp.status, body, command, key)
        return resp

    async def put_file(self, key: str, path: Path) -> str:
        del key  # IPFS chooses the key: the content's CID
        params = {"pin": "true", "cid-version": "1", "progress": "false"}
        with path.open("rb") as handle:
            form = aiohttp.FormData()
            form.add_field("file", handle, filename=path.name)
            resp = await self._post("add", path.name, params, data=form)
            try:
                text = await resp.text()
            finally:
                resp.release()
        lines = [line for line in text.splitlines() if line.strip()]
        try:
            return check_cid(str(json.loads(lines[-1])["Hash"]))
        except (IndexError, KeyError, ValueError, TypeError, InvalidRequest):
            raise Unavailable("IPFS storage gave an unreadable answer to add") from None

    async def size(self, key: str) -> int:
        resp = await self._post("files/stat", key, {"arg": f"/ipfs/{check_cid(key)}"})
        try:
            return int((await resp.json(content_type=None))["Size"])
        except (KeyError, ValueError, TypeError):
            raise Unavailable("IPFS storage gave an unreadable answer to files/stat") from None
        finally:
            resp.release()

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        params = {"arg": check_cid(key), "offset": str(start)}
        if end is not None:
            if end <= start:
                return
            params["length"] = str(end - start)
        resp = await self._post("cat", key, params)
        try:
            async for chunk in resp.content.iter_chunked(READ_CHUNK_BYTES):
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(f"IPFS storage broke off ({type(exc).__name__})") from None
        finally:
            resp.release()

    async def delete_job(self, job_id: str, keys: Sequence[str]) -> None:
        for key in keys:
            try:
                resp = await self._post("pin/rm", key, {"arg": check_cid(key)})
            except NotFound:
                continue  # already unpinned
            resp.release()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _status_error(status: int, body: bytes, command: str, key: str) -> OperatorError:
    """Kubo answers errors with 500 and {"Message": ...}; keep only what is safe to show."""
    try:
        message = str(json.loads(body).get("Message", ""))
    except (ValueError, AttributeError):
        message = ""
    lowered = message.lower()
    if status == 404 or "not pinned" in lowered or "not found" in lowered:
        return NotFound(f"no stored result {key}")
    if status in (401, 403):
        return Unavailable(f"IPFS storage refused {command}: not authorised")
    return Unavailable(f"IPFS storage failed {command}: HTTP {status}")
