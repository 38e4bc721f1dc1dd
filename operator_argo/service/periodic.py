"""The one shape of a periodic background loop: a pass, a pause, backoff while a dependency is
out, and a stop on anything else (a bug: the process stops and is restarted)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from operator_argo.domain.backoff import Backoff
from operator_argo.domain.cancellation import check_cancelled
from operator_argo.domain.clock import Clock
from operator_argo.domain.errors import OperatorError

log = structlog.get_logger(__name__)


async def run_periodically(
    one_pass: Callable[[], Awaitable[bool]],
    *,
    interval: float,
    backoff: Backoff,
    clock: Clock,
    failure_event: str,
) -> None:
    """Run `one_pass` until cancelled: again at once when it returns True (more is waiting),
    else after `interval`. A retryable error is logged as `failure_event` and the next pass
    waits the backoff's delay (never longer than `interval`); any other error is raised."""
    while True:
        check_cancelled()
        delay = interval
        try:
            if await one_pass():
                delay = 0.0
            backoff.reset()
        except OperatorError as exc:
            if not exc.retryable:
                raise
            delay = min(delay, backoff.next_delay())
            log.warning(failure_event, error=exc.message, retry_in=delay)
        await clock.sleep(delay)
