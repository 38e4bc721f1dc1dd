"""Capped exponential backoff, for loops that retry an unreachable cluster or database."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(kw_only=True)
class Backoff:
    """Delays of base, 2 x base, 4 x base ... up to `cap`; `reset()` after a success."""

    base: float = 1.0
    cap: float = 60.0
    failures: int = 0

    def next_delay(self) -> float:
        self.failures += 1
        return float(min(self.cap, self.base * 2 ** (self.failures - 1)))

    def reset(self) -> None:
        self.failures = 0
