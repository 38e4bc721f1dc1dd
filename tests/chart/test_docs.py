"""docs/operations.md stays in sync with config.py, the chart's values and the metrics module."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from operator_argo.config import Settings
from operator_argo.observability import metrics

from .conftest import CHART, ROOT
from .test_chart import config_env_names

DOC = (ROOT / "docs" / "operations.md").read_text()
ROW = re.compile(r"^\| `([A-Z0-9_-]+)` \| (.+?) \| (.+?) \| (.+?) \|$", re.MULTILINE)


def config_rows() -> dict[str, tuple[str, str]]:
    """Env var -> (chart value cell, default cell) of the configuration table."""
    return {m.group(1): (m.group(2), m.group(3)) for m in ROW.finditer(DOC)}


def values_has(path: str, values: dict[str, Any]) -> bool:
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_every_setting_has_a_row_or_a_mention() -> None:
    rows = config_rows()
    for name in config_env_names():
        assert name in rows or f"`{name}`" in DOC, f"{name} is not documented"
    aliases = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "X-API-KEY", "CLIENT-ID"}
    assert config_env_names() - aliases <= set(rows)


def test_chart_values_named_in_the_table_exist() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    named = 0
    for chart_cell, _ in config_rows().values():
        for path in re.findall(r"`([a-zA-Z]+(?:\.[a-zA-Z]+)+)`", chart_cell):
            assert values_has(path, values), f"{path} is not in values.yaml"
            named += 1
    assert named > 40


def setting_defaults() -> dict[str, Any]:
    """Env var -> Settings default, from the `# ENV_VAR: ...` comment of each field."""
    source = (ROOT / "operator_argo" / "config.py").read_text()
    body = source[source.index("class Settings:") : source.index("def environment(")]
    found = {}
    for field in dataclasses.fields(Settings):
        match = re.search(rf"^\s+{field.name}: .*?# ([A-Z][A-Z0-9_]+)", body, re.M | re.S)
        if match and field.default is not dataclasses.MISSING:
            found[match.group(1)] = field.default
    assert len(found) > 30
    return found


def shown(default: Any) -> str:
    if isinstance(default, bool):
        return "1" if default else "0"
    if default == "":
        return "empty"
    return str(default)


def test_defaults_in_the_table_match_settings() -> None:
    rows = config_rows()
    for name, default in setting_defaults().items():
        if isinstance(default, (tuple, frozenset, Path)) or name not in rows:
            continue  # environments, address lists and paths are described in words
        cell = rows[name][1].strip("`")
        assert cell.lower() == shown(default).lower(), f"{name}: doc {cell!r}, code {default!r}"


def test_every_metric_is_documented() -> None:
    names = {
        collector._name  # type: ignore[attr-defined]
        for collector in metrics.REGISTRY._collector_to_names  # type: ignore[attr-defined]
    }
    assert len(names) == 10
    for name in names:
        documented = name if name.endswith(("_seconds", "_status", "_depth")) else name + "_total"
        assert f"`{documented}`" in DOC, f"{documented} is not in docs/operations.md"
