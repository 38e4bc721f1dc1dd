"""A virtual clock: loops given it run in virtual time, and tests assert on that time.

Two ways to drive it:
- automatic (`VirtualClock()`): `sleep` does not wait, it moves the time forward by the
  requested seconds and records them in `slept`, so a loop that backs off runs its passes back
  to back while its timing stays observable;
- manual (`VirtualClock(auto=False)`): `sleep` waits until the test moves the time past its end
  with `advance`, and `wait_sleeping(n)` waits until `n` sleepers are asleep again (the loop
  they belong to has finished what it does between two sleeps).
"""

from __future__ import annotations

import asyncio
import datetime as dt

START = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
SETTLE_TIMEOUT = 10.0  # real seconds a woken loop gets to fall asleep again (a hang guard)


class VirtualClock:
    """domain.clock.Clock in virtual time, starting at `start`."""

    def __init__(self, start: dt.datetime = START, *, auto: bool = True) -> None:
        self._start = start
        self.auto = auto
        self.elapsed = 0.0
        self.slept: list[float] = []
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> dt.datetime:
        return self._start + dt.timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.auto:
            self.elapsed += max(seconds, 0.0)
            # Real I/O (a database answer, say) still takes real time: give it a moment, so a
            # loop driven by this clock does not spin while the world stands still.
            await asyncio.sleep(0.001)
            return
        wake = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.elapsed + seconds, wake))
        try:
            await wake
        finally:
            self._sleepers = [(at, f) for at, f in self._sleepers if f is not wake]

    @property
    def sleeping(self) -> int:
        return sum(1 for _, wake in self._sleepers if not wake.done())

    async def advance(self, seconds: float) -> None:
        """Move the time forward and wake every sleeper whose sleep has ended."""
        self.elapsed += seconds
        for at, wake in self._sleepers:
            if at <= self.elapsed and not wake.done():
                wake.set_result(None)
        await asyncio.sleep(0)

    async def wait_sleeping(self, count: int = 1) -> None:
        """Until `count` sleepers wait on this clock (fails after SETTLE_TIMEOUT real seconds)."""
        async with asyncio.timeout(SETTLE_TIMEOUT):
            while self.sleeping < count:
                await asyncio.sleep(0.005)
