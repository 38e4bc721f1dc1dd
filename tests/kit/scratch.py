"""Scratch directories for tests that run a PostgreSQL of their own, and that server's PID."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def scratch_dir(name: str) -> Iterator[Path]:
    """A fresh directory, removed afterwards. Outside pytest's numbered temp dirs, which
    concurrent sessions prune (a database under one would vanish mid-test)."""
    root = Path(tempfile.mkdtemp(prefix=f"operator-argo-{name}-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def postmaster_pid(data_dir: Path) -> int:
    """The PID of the embedded PostgreSQL of the operator data directory `data_dir`."""
    return int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
