"""The notice loop: delivers the outbox's start and finish notices, signed, with capped backoff.

Every replica runs one. Each pass leases the notices that are due (domain.ports.NoticeStore), so
two replicas never post the same one at once, and posts them concurrently: a receiver that is
slow or down costs this loop at most its timeout per notice, and never a job anything (the
notices were stored with the changes they report). A failed attempt is tried again after 1 s,
2 s, 4 s ... up to OPERATOR_NOTIFY_BACKOFF_CAP; a notice no receiver accepted within
OPERATOR_NOTIFY_EXPIRY, or whose environment no longer names a receiver, is given up.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import structlog

from operator_argo.config import Settings
from operator_argo.domain.backoff import Backoff, capped_delay
from operator_argo.domain.clock import SYSTEM_CLOCK, Clock
from operator_argo.domain.errors import OperatorError
from operator_argo.domain.notice import ADDRESS_HEADER, SIGNATURE_HEADER, Notice, notice_body
from operator_argo.domain.ports import NoticeSender, NoticeSigner, NoticeStore
from operator_argo.observability import metrics
from operator_argo.service.periodic import run_periodically

log = structlog.get_logger(__name__)

BATCH = 16  # notices leased and posted at once
LEASE_MARGIN = 5.0  # seconds a lease outlasts an attempt's timeout
RETRY_BASE = 1.0  # seconds before the first retry of a notice


class Notifier:
    """Delivers due notices until cancelled (module docstring)."""

    def __init__(
        self,
        settings: Settings,
        store: NoticeStore,
        sender: NoticeSender,
        signer: NoticeSigner,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._settings = settings
        self._store = store
        self._sender = sender
        self._signer = signer
        self._clock = clock
        self._backoff = Backoff(base=settings.notify_interval / 4, cap=settings.notify_interval)

    async def run(self) -> None:
        """Deliver until cancelled; the database being out backs the loop off, anything else
        not retryable ends it (a bug: the process stops)."""

        async def one_pass() -> bool:
            return await self.run_once() >= BATCH  # a full batch: more may be due now

        await run_periodically(
            one_pass,
            interval=self._settings.notify_interval,
            backoff=self._backoff,
            clock=self._clock,
            failure_event="notifier_pass_failed",
        )

    async def run_once(self) -> int:
        """One pass: lease the due notices and attempt each; how many were attempted."""
        now = self._clock.now()
        lease = self._settings.notify_timeout + LEASE_MARGIN
        due = await self._store.claim_due_notices(now, BATCH, lease)
        outcomes = await asyncio.gather(
            *(self._attempt(notice, now) for notice in due), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome  # the store could not record an outcome: the lease retries it
        return len(due)

    async def _attempt(self, notice: Notice, now: dt.datetime) -> None:
        environment = self._settings.environment(notice.job.environment)
        url = self._settings.notice_url(environment, notice.kind) if environment else ""
        if environment is None or not url:
            await self._give_up(notice, now, "its environment names no receiver any more")
            return
        if (now - notice.created_at).total_seconds() > self._settings.notify_expiry:
            await self._give_up(notice, now, f"expired after {notice.attempts - 1} attempt(s)")
            return
        body = notice_body(notice)
        headers = {
            SIGNATURE_HEADER: self._signer.sign(environment.id, body),
            ADDRESS_HEADER: environment.consumer_address,
        }
        try:
            await self._sender.post(url, body, headers)
        except OperatorError as exc:
            await self._retry(notice, now, exc.message)
            return
        await self._store.notice_delivered(notice, self._clock.now())
        metrics.record_notice(notice.kind.value, "delivered")
        log.info(
            "notice_delivered",
            job_id=notice.job.job_id,
            kind=notice.kind.value,
            attempt=notice.attempts,
        )

    async def _retry(self, notice: Notice, now: dt.datetime, error: str) -> None:
        delay = capped_delay(
            notice.attempts, base=RETRY_BASE, cap=self._settings.notify_backoff_cap
        )
        metrics.record_notice(notice.kind.value, "failed")
        log.warning(
            "notice_failed",
            job_id=notice.job.job_id,
            kind=notice.kind.value,
            attempt=notice.attempts,
            error=error,
            retry_in=delay,
        )
        await self._store.notice_retry(notice, now + dt.timedelta(seconds=delay), error)

    async def _give_up(self, notice: Notice, now: dt.datetime, why: str) -> None:
        metrics.record_notice(notice.kind.value, "given_up")
        log.error("notice_given_up", job_id=notice.job.job_id, kind=notice.kind.value, why=why)
        await self._store.notice_given_up(notice, now, why)
