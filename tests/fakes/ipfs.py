"""A fake IPFS node RPC API on 127.0.0.1: add, cat (offset/length), files/stat and pin/rm.

Like a gateway in front of a real node it refuses calls without the right X-API-KEY and
CLIENT-ID headers, and like kubo it accepts POST only and answers errors with 500 + Message.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import BodyPartReader, web
from aiohttp.test_utils import TestServer

API_KEY = "test-ipfs-api-key-0123456789"
CLIENT_ID = "test-ipfs-client"


def _error(message: str, status: int = 500) -> web.Response:
    body = {"Message": message, "Code": 0, "Type": "error"}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


class FakeIpfs:
    """Pinned objects by CID; `url` is set once the server listens."""

    def __init__(self, api_key: str = API_KEY, client_id: str = CLIENT_ID) -> None:
        self.api_key = api_key
        self.client_id = client_id
        self.url = ""
        self.objects: dict[str, bytes] = {}
        self.refused = 0

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth], client_max_size=1024**3)
        app.router.add_post("/api/v0/add", self.add)
        app.router.add_post("/api/v0/cat", self.cat)
        app.router.add_post("/api/v0/files/stat", self.stat)
        app.router.add_post("/api/v0/pin/rm", self.unpin)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: web.Handler) -> web.StreamResponse:
        headers = request.headers
        if headers.get("X-API-KEY") != self.api_key or headers.get("CLIENT-ID") != self.client_id:
            self.refused += 1
            return _error("unauthorised", status=401)
        return await handler(request)

    async def add(self, request: web.Request) -> web.Response:
        reader = await request.multipart()
        part = await reader.next()
        if not isinstance(part, BodyPartReader):
            return _error("file argument 'path' is required")
        digest = hashlib.sha256()
        data = bytearray()
        while chunk := await part.read_chunk(65536):
            digest.update(chunk)
            data += chunk
        cid = "bafk" + digest.hexdigest()[:52]
        self.objects[cid] = bytes(data)
        answer = {"Name": part.filename or cid, "Hash": cid, "Size": str(len(data))}
        return web.Response(text=json.dumps(answer) + "\n", content_type="application/json")

    async def cat(self, request: web.Request) -> web.Response:
        data = self.objects.get(request.query.get("arg", ""))
        if data is None:
            return _error("block was not found locally (offline): ipld: could not find node")
        offset = int(request.query.get("offset", "0"))
        length = request.query.get("length")
        end = len(data) if length is None else offset + int(length)
        return web.Response(body=data[offset:end], content_type="text/plain")

    async def stat(self, request: web.Request) -> web.Response:
        cid = request.query.get("arg", "").removeprefix("/ipfs/")
        if cid not in self.objects:
            return _error("block was not found locally (offline): ipld: could not find node")
        size = len(self.objects[cid])
        answer = {"Hash": cid, "Size": size, "CumulativeSize": size + 11, "Type": "file"}
        return web.json_response(answer)

    async def unpin(self, request: web.Request) -> web.Response:
        cid = request.query.get("arg", "")
        if self.objects.pop(cid, None) is None:
            return _error("not pinned or pinned indirectly")
        return web.json_response({"Pins": [cid]})


async def start_ipfs() -> tuple[FakeIpfs, TestServer]:
    fake = FakeIpfs()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    return fake, server


@pytest.fixture
async def fake_ipfs() -> AsyncIterator[FakeIpfs]:
    """A FakeIpfs that accepts API_KEY / CLIENT_ID."""
    fake, server = await start_ipfs()
    try:
        yield fake
    finally:
        await server.close()
