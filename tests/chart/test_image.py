"""The container image recipe: multi-stage, non-root, no build tools where the server runs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .conftest import ROOT

BUILD_TOOLS = re.compile(r"\b(build-essential|gcc|g\+\+|clang|make|cmake|python3-dev|libpq-dev)\b")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse_dockerfile() -> list[Stage]:
    """Stages with their instructions; continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    stages: list[Stage] = []
    build_args: dict[str, str] = {}  # ARGs before the first FROM, with their defaults
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages:
            name, _, default = args.strip().partition("=")
            build_args[name] = default
        elif keyword == "FROM":
            parts = re.sub(r"\$\{(\w+)\}", lambda m: build_args[m[1]], args).split()
            name = parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=parts[0], name=name))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


def test_multi_stage_on_slim_python_by_default() -> None:
    # The base is a build argument (a registry-free build passes a local one); its default is
    # the public slim Python image, so a plain build of the Dockerfile is unchanged.
    stages = parse_dockerfile()
    assert len(stages) >= 2
    assert all(stage.base == "python:3.11-slim" for stage in stages)
    final = stages[-1]
    copies = final.args("COPY")
    assert any(c.startswith(f"--from={stages[0].name} /opt/venv") for c in copies)


def test_builder_builds_the_wheel_into_a_venv() -> None:
    builder = parse_dockerfile()[0]
    runs = " ".join(builder.args("RUN"))
    assert "python -m venv /opt/venv" in runs
    assert "pip wheel" in runs and "pip install /wheels/" in runs


def test_final_stage_has_no_build_tools_and_runs_as_uid_10001() -> None:
    final = parse_dockerfile()[-1]
    for run in final.args("RUN"):
        assert not BUILD_TOOLS.search(run), run
    assert "useradd" in " ".join(final.args("RUN"))
    (user,) = final.args("USER")
    assert user.split(":")[0] == "10001"
    # USER comes after every RUN, so nothing later runs as root.
    keywords = [kw for kw, _ in final.instructions]
    assert keywords.index("USER") > max(i for i, kw in enumerate(keywords) if kw == "RUN")


def test_one_image_serves_and_runs_steps() -> None:
    final = parse_dockerfile()[-1]
    (entrypoint,) = final.args("ENTRYPOINT")
    (cmd,) = final.args("CMD")
    assert json.loads(entrypoint) == ["operator-argo"]
    assert json.loads(cmd) == ["serve"]  # `step configure|publish` replaces CMD in job pods


def test_dockerignore_keeps_the_context_to_the_package() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    assert {"!pyproject.toml", "!README.md", "!operator_argo/"} <= set(lines)
    builder_copies = " ".join(parse_dockerfile()[0].args("COPY"))
    for allowed in ("pyproject.toml", "README.md", "operator_argo"):
        assert allowed in builder_copies
