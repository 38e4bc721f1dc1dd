"""`operator-argo serve` runs on uvloop unless configured otherwise or uvloop is missing."""

import sys

import pytest
import uvloop

from operator_argo.app import event_loop_factory
from operator_argo.config import load_settings
from operator_argo.domain.errors import ConfigurationError


def test_event_loop_is_uvloop_by_default_and_can_be_asyncio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert event_loop_factory(load_settings({})) is uvloop.new_event_loop
    assert event_loop_factory(load_settings({"OPERATOR_EVENT_LOOP": "uvloop"})) is not None
    assert event_loop_factory(load_settings({"OPERATOR_EVENT_LOOP": "asyncio"})) is None
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if it were not installed
    assert event_loop_factory(load_settings({})) is None
    with pytest.raises(ConfigurationError, match="uvloop is not installed"):
        event_loop_factory(load_settings({"OPERATOR_EVENT_LOOP": "uvloop"}))
