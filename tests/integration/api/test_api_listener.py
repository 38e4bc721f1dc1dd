"""Slow and idle clients against the real listener, over real sockets: headers and bodies have
bounded time, and open connections a bound (past it a new one gets a 503 and is closed)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from operator_argo.api.listener import listening
from operator_argo.app import build_app, open_runtime
from operator_argo.config import Settings

# Short limits keep the test fast; each wait below is bounded far above them, and the old server
# (no header or body timeout, no connection limit) held such connections for minutes.
HEADER_TIMEOUT = 0.5
BODY_TIMEOUT = 0.5
MAX_CONNECTIONS = 6
GIVE_UP = 10.0


@pytest.fixture
async def address(settings_factory: Callable[..., Settings]) -> AsyncIterator[tuple[str, int]]:
    settings = settings_factory(
        header_timeout=HEADER_TIMEOUT, body_timeout=BODY_TIMEOUT, max_connections=MAX_CONNECTIONS
    )
    async with (
        open_runtime(settings) as runtime,
        listening(build_app(runtime), settings, port=0) as bound,
    ):
        yield bound


async def read_to_eof(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (bounded by GIVE_UP)."""
    async with asyncio.timeout(GIVE_UP):
        try:
            return await reader.read()
        except ConnectionResetError:
            return b""


@contextlib.asynccontextmanager
async def connected(
    address: tuple[str, int],
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection(*address)
    try:
        yield reader, writer
    finally:
        writer.close()


async def trickle(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Send `data` a byte at a time, slower than any timeout allows, until the server hangs up."""
    with contextlib.suppress(ConnectionError):
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.1)


async def healthz(address: tuple[str, int]) -> bytes:
    async with connected(address) as (reader, writer):
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: operator\r\nConnection: close\r\n\r\n")
        return await read_to_eof(reader)


async def test_connections_trickling_headers_are_closed_after_the_header_timeout(
    address: tuple[str, int],
) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: operator\r\nX-Slow: " + b"a" * 500
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(connected(address)) for _ in range(4)]
        senders = [asyncio.create_task(trickle(writer, head)) for _, writer in clients]
        answers = await asyncio.gather(*(read_to_eof(reader) for reader, _ in clients))
        for task in senders:
            task.cancel()
    assert answers == [b""] * 4  # closed, no request was ever complete
    assert b"200 OK" in await healthz(address)


async def test_a_body_sent_at_a_trickle_gets_408_and_the_connection_closed(
    address: tuple[str, int],
) -> None:
    head = (
        b"POST /api/v1/operator/compute HTTP/1.1\r\nHost: operator\r\n"
        b"Content-Type: application/json\r\nContent-Length: 400\r\n\r\n"
    )
    async with connected(address) as (reader, writer):
        writer.write(head)
        sender = asyncio.create_task(trickle(writer, b"{" + b" " * 399))
        answer = await read_to_eof(reader)
        sender.cancel()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert answer.endswith(b'{"error": "request body not received in time"}')


async def test_connections_past_the_limit_get_503_and_slots_free_up_again(
    address: tuple[str, int],
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        idle = [await stack.enter_async_context(connected(address)) for _ in range(MAX_CONNECTIONS)]
        # The server accepts in arrival order: the next one finds every slot taken.
        answer = await healthz(address)
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert b"Retry-After: 1" in answer and b"too many open connections" in answer
        # Idle connections hold their slot only until the header timeout closes them.
        assert await asyncio.gather(*(read_to_eof(reader) for reader, _ in idle)) == [b""] * len(
            idle
        )
    assert b"200 OK" in await healthz(address)
