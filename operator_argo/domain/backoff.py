"""Capped exponential backoff, for loops that retry an unreachable cluster or database."""

from __future__ import annotations

import dataclasses


def capped_delay(failures: int, *, base: float, cap: float) -> float:
    """The delay after `failures` failures in a row: base, 2 x base, 4 x base ... up to `cap`."""
    doublings = min(max(failures - 1, 0), 64)  # beyond that every cap is reached anyway
    return float(min(cap, base * 2**doublings))


@dataclasses.dataclass(kw_only=True)
class Backoff:
    """Delays of base, 2 x base, 4 x base ... up to `cap`; `reset()` after a success."""

    base: float = 1.0
    cap: float = 60.0
    failures: int = 0

    def next_delay(self) -> float:
        self.failures += 1
        return capped_delay(self.failures, base=self.base, cap=self.cap)

    def reset(self) -> None:
        self.failures = 0
