"""A fake Ocean world on 127.0.0.1: plain file server, Aquarius DDO endpoint and a provider.

The provider's download endpoint checks what a real one checks: the signature recovers to the
expected consumer address over `did + nonce`, nonces grow, the transfer tx and service match.
Files can be made to fail (404, N x 503 first), to stall (read timeout), or to be large
(generated on the fly, never held in memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.crypto import keccak

PATTERN = bytes(range(256)) * 4096  # 1 MiB of a known pattern for generated files


@dataclasses.dataclass(kw_only=True)
class Asset:
    """A dataset or algorithm a provider sells: its files and the purchase that unlocks them."""

    did: str
    service_id: str
    tx_id: str
    files: list[bytes]


def pattern_bytes(size: int) -> bytes:
    """The first `size` bytes a generated file of that size contains (for small checks)."""
    return (PATTERN * (size // len(PATTERN) + 1))[:size]


class FakeOcean:
    """State and handlers of the fake; `url` is set once the server listens."""

    def __init__(self, consumer_address: str) -> None:
        self.consumer_address = consumer_address.lower()
        self.url = ""
        self.files: dict[str, bytes] = {}
        self.generated: dict[str, int] = {}  # name -> size, streamed from PATTERN
        self.fail_first: dict[str, int] = {}  # name -> how many 503s before success
        self.stall: dict[str, float] = {}  # name -> seconds to stall after the first chunk
        self.rate_limit: float | None = None  # bytes/s per streamed response (a far server)
        self.ddos: dict[str, dict[str, Any]] = {}
        self.assets: dict[tuple[str, str], Asset] = {}
        self.hits: dict[str, int] = {}
        self.downloads: list[dict[str, str]] = []  # query params of accepted provider downloads
        self.rejected: list[str] = []  # why provider calls were refused
        self.download_delay = 0.0  # seconds the provider takes before answering a download
        self.in_flight = 0  # file and provider downloads being served right now
        self.peak_in_flight = 0  # the most of them served at the same time
        self._last_nonce: dict[str, int] = {}

    # --- set-up helpers for tests
    def file_url(self, name: str) -> str:
        return f"{self.url}/files/{name}"

    def add_asset(self, asset: Asset, *, endpoint: str | None = None) -> None:
        """Sell `asset` through this provider and publish its DDO."""
        self.assets[(asset.did, asset.service_id)] = asset
        self.ddos[asset.did] = {
            "@context": ["https://w3id.org/did/v1"],
            "id": asset.did,
            "version": "4.1.0",
            "services": [
                {"id": "other", "type": "access", "serviceEndpoint": "http://127.0.0.1:9/"},
                {
                    "id": asset.service_id,
                    "type": "compute",
                    "files": "0x04encrypted",
                    "serviceEndpoint": endpoint or self.url,
                },
            ],
        }

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/files/{name}", self.serve_file)
        app.router.add_get("/api/aquarius/assets/ddo/{did}", self.serve_ddo)
        app.router.add_post("/api/services/fileinfo", self.fileinfo)
        app.router.add_get("/api/services/download", self.download)
        return app

    @contextlib.contextmanager
    def _counted(self) -> Iterator[None]:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1

    # --- handlers
    async def serve_file(self, request: web.Request) -> web.StreamResponse:
        with self._counted():
            return await self._serve_file(request)

    async def _serve_file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits[name] = self.hits.get(name, 0) + 1
        if self.fail_first.get(name, 0) > 0:
            self.fail_first[name] -= 1
            raise web.HTTPServiceUnavailable()
        if name in self.generated:
            return await self._stream(request, name, self.generated[name])
        if name not in self.files:
            raise web.HTTPNotFound()
        if name in self.stall:
            return await self._stream(request, name, len(self.files[name]))
        return web.Response(body=self.files[name])

    async def _stream(self, request: web.Request, name: str, size: int) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        resp.content_length = size
        await resp.prepare(request)
        if name in self.stall:
            await self._stall(request, self.stall[name])
        data = self.files.get(name)
        sent = 0
        started = asyncio.get_running_loop().time()
        while sent < size:
            part = min(len(PATTERN), size - sent)
            await resp.write(data[sent : sent + part] if data is not None else PATTERN[:part])
            sent += part
            if self.rate_limit:
                due = started + sent / self.rate_limit
                await asyncio.sleep(max(0.0, due - asyncio.get_running_loop().time()))
        await resp.write_eof()
        return resp

    @staticmethod
    async def _stall(request: web.Request, seconds: float) -> None:
        """Send nothing for `seconds`, or until the client gives up and hangs up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            if request.transport is None or request.transport.is_closing():
                raise ConnectionResetError("client went away")
            await asyncio.sleep(0.05)

    async def serve_ddo(self, request: web.Request) -> web.Response:
        did = request.match_info["did"]
        if did not in self.ddos:
            raise web.HTTPNotFound()
        return web.json_response(self.ddos[did])

    async def fileinfo(self, request: web.Request) -> web.Response:
        body = await request.json()
        asset = self.assets.get((body.get("did"), body.get("serviceId")))
        if asset is None:
            self.rejected.append("fileinfo: unknown asset")
            raise web.HTTPBadRequest(text=json.dumps({"error": "unknown asset"}))
        return web.json_response(
            [
                {"index": k, "valid": True, "contentLength": str(len(data)), "type": "url"}
                for k, data in enumerate(asset.files)
            ]
        )

    def _verify(self, query: Any) -> Asset:
        did, nonce = query.get("documentId", ""), query.get("nonce", "")
        asset = self.assets.get((did, query.get("serviceId", "")))
        if asset is None or query.get("transferTxId") != asset.tx_id:
            raise self._reject(400, "unknown asset or transfer")
        message = encode_defunct(primitive=keccak(text=f"{did}{nonce}"))
        try:
            signer = Account.recover_message(message, signature=query.get("signature", ""))
        except (ValueError, TypeError):
            raise self._reject(400, "unreadable signature") from None
        consumer = query.get("consumerAddress", "").lower()
        if signer.lower() != self.consumer_address or consumer != self.consumer_address:
            raise self._reject(401, "signature is not the consumer's")
        if int(nonce) <= self._last_nonce.get(consumer, 0):
            raise self._reject(401, "nonce reused")
        self._last_nonce[consumer] = int(nonce)
        return asset

    def _reject(self, status: int, why: str) -> web.HTTPException:
        self.rejected.append(why)
        cls = web.HTTPUnauthorized if status == 401 else web.HTTPBadRequest
        return cls(text=json.dumps({"error": why}), content_type="application/json")

    async def download(self, request: web.Request) -> web.Response:
        with self._counted():
            await asyncio.sleep(self.download_delay)
            return self._download(request)

    def _download(self, request: web.Request) -> web.Response:
        asset = self._verify(request.query)
        index = int(request.query.get("fileIndex", "-1"))
        if not 0 <= index < len(asset.files):
            raise self._reject(400, "no such file index")
        self.downloads.append(dict(request.query))
        return web.Response(body=asset.files[index])


async def start_ocean(consumer_address: str) -> tuple[FakeOcean, TestServer]:
    """Start a FakeOcean on a free port of 127.0.0.1; close the server when done."""
    fake = FakeOcean(consumer_address)
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    return fake, server


ENV_KEY = "0x" + "4c" * 32  # the environment's key in tests (never a real one)
ENV_ADDRESS = Account.from_key(ENV_KEY).address


@pytest.fixture
async def ocean() -> AsyncIterator[FakeOcean]:
    """A FakeOcean whose provider expects downloads signed with ENV_KEY."""
    fake, server = await start_ocean(ENV_ADDRESS)
    try:
        yield fake
    finally:
        await server.close()
