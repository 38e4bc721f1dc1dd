"""Step logs: human-readable progress lines to an admin log file and to stderr.

These files are published to the consumer (configrationLog, publishLog), so they are plain
sentences, not machine events, and never carry keys, signatures, URLs or user data.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

_FORMAT = "%(asctime)s %(levelname)s %(message)s"


class _UtcFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


def open_step_log(path: Path, name: str) -> logging.Logger:
    """A logger writing to `path` (appending) and stderr; close it with `close_step_log`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"operator_argo.steps.{name}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    close_step_log(logger)
    formatter = _UtcFormatter(_FORMAT)
    for handler in (logging.FileHandler(path, encoding="utf-8"), logging.StreamHandler(sys.stderr)):
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    return logger


def close_step_log(logger: logging.Logger) -> None:
    """Flush and close every handler, so the file is complete on disk."""
    for handler in list(logger.handlers):
        handler.flush()
        handler.close()
        logger.removeHandler(handler)


def human_bytes(size: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def rate(size: int, seconds: float) -> str:
    """'12.0 MiB in 0.50 s (24.0 MiB/s)'."""
    per_second = size / seconds if seconds > 0 else float(size)
    return f"{human_bytes(size)} in {seconds:.2f} s ({human_bytes(per_second)}/s)"
