"""Time: the one clock (wall time, loop time) and sleep that loops and use-cases are given.

Everything that waits or reads the time takes a `Clock`, so tests drive loops in virtual time
(a clock whose sleep returns at once and moves its time forward) instead of sleeping.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Protocol


class Clock(Protocol):
    """Wall time for records, monotonic time for intervals, and a sleep."""

    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for intervals and deadlines)."""

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds`."""


class SystemClock:
    """The real clock: `datetime.now(UTC)`, `time.monotonic()` and `asyncio.sleep`."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()


async def sleep_or_wake(clock: Clock, seconds: float, wake: asyncio.Event) -> None:
    """Wait `seconds` on `clock`, or less when `wake` is set meanwhile (or already)."""
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    waiter = asyncio.ensure_future(wake.wait())
    try:
        await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        waiter.cancel()
