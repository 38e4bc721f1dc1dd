"""The API's listening socket: a bounded number of connections, each with bounded time to send
its headers and its body, so that slow or idle clients cannot hold descriptors without end.

- headers: aiohttp closes a connection that has not sent a complete request head within its
  keep-alive timeout of opening it or of the previous response; that timeout is the header
  timeout here (so it is also how long an idle keep-alive connection stays open);
- body: `body_limits_middleware` reads a body within the body timeout or answers 408;
- connections: past the limit a new connection gets a 503 and is closed at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from aiohttp import web

from operator_argo.config import Settings

log = structlog.get_logger(__name__)

_BUSY_BODY = b'{"error": "too many open connections"}'
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n"
    b"Content-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY
)


class _Busy(asyncio.Protocol):
    """A connection over the limit: one 503, then closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(BUSY)
        transport.close()


class _Counted(asyncio.Protocol):
    """aiohttp's protocol for one connection, holding one of the limited slots until it ends."""

    def __init__(self, inner: Any, release: Callable[[], None]) -> None:
        self._inner = inner
        self._release = release

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        result: bool | None = self._inner.eof_received()
        return result

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class ConnectionLimit:
    """Makes aiohttp's protocols while fewer than `limit` connections are open."""

    def __init__(self, server: web.Server, limit: int) -> None:
        self._server = server
        self._limit = limit
        self.open = 0

    def __call__(self) -> asyncio.Protocol:
        if self.open >= self._limit:
            log.warning("connection_refused_over_limit", limit=self._limit)
            return _Busy()
        self.open += 1
        return _Counted(self._server(), self._released)

    def _released(self) -> None:
        self.open -= 1


@asynccontextmanager
async def listening(
    app: web.Application, settings: Settings, *, port: int | None = None
) -> AsyncIterator[tuple[str, int]]:
    """Serve `app` on the configured host and port (`port` overrides; 0 = any free port) until
    the block ends; yields the address bound."""
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=settings.header_timeout)
    await runner.setup()
    assert runner.server is not None
    # The replica's limit is shared out over its worker processes (processes.py), which all
    # bind the port: the kernel spreads new connections over them.
    shared = settings.workers > 1
    limit = ConnectionLimit(runner.server, -(-settings.max_connections // settings.workers))
    loop = asyncio.get_running_loop()
    try:
        server = await loop.create_server(
            limit,
            settings.host,
            settings.port if port is None else port,
            reuse_address=True,
            reuse_port=shared or None,
        )
        try:
            host, bound = server.sockets[0].getsockname()[:2]
            yield str(host), int(bound)
        finally:
            server.close()
    finally:
        await runner.cleanup()
