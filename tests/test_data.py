"""The copies in tests/data are exactly the shared fixtures they were copied from."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kit.data import COPIED, DATA, SHARED


def _files(root: Path, part: str) -> dict[str, bytes]:
    base = root / part
    if base.is_file():
        return {part: base.read_bytes()}
    return {f"{part}/{p.relative_to(base)}": p.read_bytes() for p in base.rglob("*") if p.is_file()}


def test_the_copies_match_the_shared_fixtures() -> None:
    if not SHARED.is_dir():
        # A plain clone has no originals to compare with; its tests run on the copies alone.
        pytest.skip(f"{SHARED} (the project's shared fixtures) is not beside the repository")
    for part in COPIED:
        copies, originals = _files(DATA, part), _files(SHARED, part)
        assert copies, f"tests/data/{part} is empty"
        assert sorted(copies) == sorted(originals), f"tests/data/{part} lacks or adds files"
        changed = [name for name in copies if copies[name] != originals[name]]
        assert not changed, f"copies differ from shared/: {changed}; copy them again"
