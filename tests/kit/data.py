"""Where the test data lives: tests/data, copies of the project's shared fixtures.

tests/data/ocean/examples are the contract's example bodies and tests/data/argo the Argo
Workflow schema and captured workflow objects, copied from shared/ so a clone runs the tests on
its own; tests/test_data.py holds the copies equal to shared/ beside the repository.
tests/data/ocean-node holds bodies other clients send, this project's own and not copied.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
OCEAN_EXAMPLES = DATA / "ocean" / "examples"
OCEAN_NODE_EXAMPLES = DATA / "ocean-node"
ARGO_SCHEMA = DATA / "argo" / "schema.json"
ARGO_FIXTURES = DATA / "argo" / "fixtures"
SHARED = Path(__file__).resolve().parents[3] / "shared"
COPIED = ("ocean/examples", "argo/fixtures", "argo/schema.json", "argo/SOURCE.md")
