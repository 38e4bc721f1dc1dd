"""The notice sender: POSTs a notice's body to its receiver; the one place its errors are read.

Any answer but 2xx, a timeout, or no answer at all is a retryable failure (Unavailable): the
notice loop tries again later. Redirects are not followed: a receiver that moved is configured
anew, never chased.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from operator_argo import __version__
from operator_argo.domain.errors import Unavailable

USER_AGENT = f"operator-argo/{__version__}"
_SHOWN_ANSWER = 200  # characters of a refusing receiver's answer kept for the log


class HttpNoticeSender:
    """domain.ports.NoticeSender on one aiohttp session, each attempt bounded by `timeout`."""

    def __init__(self, timeout: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": USER_AGENT}
            )
        return self._session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        sent = {"Content-Type": "application/json", **headers}
        try:
            async with self._open().post(
                url, data=body, headers=sent, allow_redirects=False
            ) as answer:
                if 200 <= answer.status < 300:
                    return
                text = (await answer.text(errors="replace"))[:_SHOWN_ANSWER]
                raise Unavailable(f"the receiver answered {answer.status}: {text.strip()}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            raise Unavailable(f"the receiver could not be reached: {reason}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
