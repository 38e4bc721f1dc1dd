"""Following a log file as a step writes it: what is there, then what comes, until it ends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

FOLLOW_INTERVAL = 0.2  # seconds between two looks at a file that has nothing new
CHUNK_BYTES = 64 * 1024


async def follow_file(
    path: Path,
    *,
    ended: Callable[[], bool],
    sleep: Callable[[float], Awaitable[None]],
    interval: float = FOLLOW_INTERVAL,
) -> AsyncIterator[bytes]:
    """The bytes of `path` from its start, then those appended, until `ended()` and nothing is
    left to read. A file that does not exist yet is waited for (until `ended()`)."""
    handle: BinaryIO | None = None
    try:
        while True:
            # Asked before reading: whatever was written before the end is still read.
            over = ended()
            if handle is None:
                try:
                    handle = path.open("rb")
                except FileNotFoundError:
                    if over:
                        return
                    await sleep(interval)
                    continue
            data = handle.read(CHUNK_BYTES)
            if data:
                yield data
            elif over:
                return
            else:
                await sleep(interval)
    finally:
        if handle is not None:
            handle.close()
