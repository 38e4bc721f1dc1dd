"""docs/operations.md stays in sync with config.py, the chart's values and the metrics module."""

from __future__ import annotations

import re
from typing import Any

import yaml

from operator_argo import config_docs
from operator_argo.config import declarations
from operator_argo.observability import metrics

from .conftest import CHART, ROOT

DOC = (ROOT / "docs" / "operations.md").read_text()


def values_has(path: str, values: dict[str, Any]) -> bool:
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_the_settings_tables_are_generated_from_the_declarations() -> None:
    assert config_docs.main(["--check", "--root", str(ROOT)]) == 0


def test_chart_values_the_declarations_name_exist() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    named = 0
    for declared in declarations():
        if declared.chart.startswith("("):
            continue  # set by the chart itself, or not at all, as the text says
        for path in re.findall(r"[a-zA-Z0-9]+(?:\.[a-zA-Z0-9]+)+", declared.chart):
            assert values_has(path, values), f"{declared.env}: {path} is not in values.yaml"
            named += 1
    assert named > 40


def test_every_metric_is_documented() -> None:
    names = {
        collector._name  # type: ignore[attr-defined]
        for collector in metrics.REGISTRY._collector_to_names  # type: ignore[attr-defined]
    }
    assert len(names) >= 10  # the registry was read (a new metric needs only its doc row)
    for name in names:
        documented = name if name.endswith(("_seconds", "_status", "_depth")) else name + "_total"
        assert f"`{documented}`" in DOC, f"{documented} is not in docs/operations.md"
