"""A notice receiver on 127.0.0.1 that checks what a real one would: the signature over the body.

It can be down (nothing listens on its port until `start`), refuse the first notices with an
error status, or hang before answering, so tests see the notice loop retry, time out, back off
and, once it is up, deliver every notice once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from typing import Any

from aiohttp import web
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.crypto import keccak

from operator_argo.domain.notice import ADDRESS_HEADER, SIGNATURE_HEADER


@dataclasses.dataclass(frozen=True, kw_only=True)
class Received:
    """One notice the receiver accepted."""

    path: str
    body: dict[str, Any]
    signer: str  # the address the signature recovers to, over the exact body bytes
    claimed: str  # the address the notice says signed it


def free_port() -> int:
    """A port nothing listens on now (the receiver is "down" until it starts there)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class NoticeReceiver:
    """Accepts POSTs under any path; `refuse` answers that many with `refusal` first."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.attempts = 0  # POSTs that reached it, refused or not
        self.refuse = 0
        self.refusal = 503
        self.hang = 0.0  # seconds to wait before answering
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Condition()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._post)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """Until `count` notices were accepted (fails after `timeout` real seconds)."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return list(self.received)

    async def _post(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if self.hang:
            await asyncio.sleep(self.hang)
        if self.refuse > 0:
            self.refuse -= 1
            return web.Response(status=self.refusal, text="not now")
        raw = await request.read()
        signature = request.headers.get(SIGNATURE_HEADER, "")
        signer = Account.recover_message(encode_defunct(primitive=keccak(raw)), signature=signature)
        async with self._arrived:
            self.received.append(
                Received(
                    path=request.path,
                    body=json.loads(raw),
                    signer=str(signer),
                    claimed=request.headers.get(ADDRESS_HEADER, ""),
                )
            )
            self._arrived.notify_all()
        return web.Response(status=204)
