"""The code-quality gates run as part of the suite, so CI and the README's one test command check
them: ruff (lint + format), mypy --strict and the import-linter layer contracts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

GATES = {
    "ruff-lint": [sys.executable, "-m", "ruff", "check", "operator_argo", "tests", "bench"],
    "ruff-format": [
        sys.executable,
        "-m",
        "ruff",
        "format",
        "--check",
        "operator_argo",
        "tests",
        "bench",
    ],
    "mypy-strict": [sys.executable, "-m", "mypy", "operator_argo"],
    "import-layers": [str(Path(sys.executable).with_name("lint-imports"))],
}


@pytest.mark.parametrize("gate", sorted(GATES))
def test_quality_gate(gate: str) -> None:
    result = subprocess.run(
        GATES[gate], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, (
        f"{gate} failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    )
