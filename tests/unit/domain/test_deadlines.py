"""The overdue rule: a start at or before the cutoff is overdue, one microsecond later is not."""

from __future__ import annotations

import datetime as dt

from operator_argo.domain.deadlines import OVERDUE_GRACE, is_overdue, overdue_by, overdue_cutoff

NOW = dt.datetime(2030, 1, 1, 12, tzinfo=dt.UTC)


def test_the_cutoff_is_the_last_overdue_start() -> None:
    for deadline in (0, 1, 3_000, 86_400):
        cutoff = overdue_cutoff(deadline, NOW)
        assert is_overdue(cutoff, deadline, NOW)
        assert not is_overdue(cutoff + dt.timedelta(microseconds=1), deadline, NOW)
        assert overdue_by(cutoff, deadline, NOW) == OVERDUE_GRACE
