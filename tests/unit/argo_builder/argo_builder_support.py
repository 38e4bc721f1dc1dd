"""Helpers shared by the workflow builder tests (paths, request examples, dict walking)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = REPO_ROOT / "templates"
NOW = dt.datetime.fromtimestamp(1_700_000_000, dt.UTC)
JOB_ID = "a" * 32


def load_request(name: str) -> dict[str, Any]:
    """A request body from templates/requests (the contract's examples)."""
    data: dict[str, Any] = json.loads((TEMPLATES / "requests" / name).read_text(encoding="utf-8"))
    return data


def steps_of(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Template name -> template."""
    return {template["name"]: template for template in workflow["spec"]["templates"]}


def env_of(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Env var name -> its entry in a template's container."""
    return {item["name"]: item for item in template["container"].get("env", [])}


def walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair anywhere in a nested structure."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)
