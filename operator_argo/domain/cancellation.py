"""Cancellations that got lost on the way, and how long-running loops still honour them.

On Python 3.11, `asyncio.wait_for` (used inside the database pool and the HTTP clients) can
return normally when a cancellation arrives just as the awaited operation completes, and an
HTTP client can turn a cancellation into a timeout error. Either way the task goes on with the
cancellation still requested (`Task.cancelling()`), and a loop that retries on errors would run
forever. The background loops call `check_cancelled()` once per round.
"""

from __future__ import annotations

import asyncio


def check_cancelled() -> None:
    """Raise CancelledError if the current task has been asked to stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
