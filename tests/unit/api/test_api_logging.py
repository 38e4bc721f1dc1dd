"""Logging setup: JSON or console lines, request ids from context, secrets redacted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from operator_argo.config import Settings
from operator_argo.domain.errors import ConfigurationError
from operator_argo.observability.logging import REDACTED, configure_logging, redact_secrets


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers = handlers
    root.setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def test_json_lines_carry_the_request_id_and_hide_secrets() -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_format="json"), stream=stream)
    log = structlog.get_logger("test")
    with structlog.contextvars.bound_contextvars(request_id="rid-1"):
        log.info(
            "job_created",
            job_id="j1",
            private_key="0xdead",
            providerSignature="0xbeef",
            detail={"password": "p", "nested": [{"api_token": "t"}], "ok": 1},
        )
    log.info("after_request")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "job_created"
    assert first["request_id"] == "rid-1"
    assert first["job_id"] == "j1"
    assert first["level"] == "info"
    assert first["private_key"] == REDACTED
    assert first["providerSignature"] == REDACTED
    assert first["detail"] == {"password": REDACTED, "nested": [{"api_token": REDACTED}], "ok": 1}
    assert "0xdead" not in stream.getvalue()
    assert "request_id" not in second


def test_level_filters_and_stdlib_records_are_rendered_too() -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_format="json", log_level="WARNING"), stream=stream)
    structlog.get_logger("test").info("hidden")
    structlog.get_logger("test").warning("shown")
    logging.getLogger("other").warning("plain %s", "record")
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert events == ["shown", "plain record"]


def test_console_format() -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_format="console"), stream=stream)
    structlog.get_logger("test").info("job_created", job_id="j1", secret="s3")
    line = stream.getvalue()
    assert "job_created" in line
    assert "job_id=j1" in line
    assert "s3" not in line


def test_log_cfg_file_wins(tmp_path: Path) -> None:
    target = tmp_path / "out.log"
    config = tmp_path / "logging.yaml"
    config.write_text(
        "version: 1\n"
        "formatters:\n"
        "  plain: {format: 'CFG %(message)s'}\n"
        "handlers:\n"
        f"  file: {{class: logging.FileHandler, filename: '{target}', formatter: plain}}\n"
        "root: {level: INFO, handlers: [file]}\n"
    )
    configure_logging(Settings(log_cfg=str(config), log_format="json"))
    structlog.get_logger("test").info("from_structlog", token="t0k")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = target.read_text()
    assert text.startswith("CFG ")
    assert "from_structlog" in text
    assert "t0k" not in text


def test_bad_log_cfg_names_the_setting(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("- not a mapping\n")
    with pytest.raises(ConfigurationError, match="LOG_CFG"):
        configure_logging(Settings(log_cfg=str(config)))
    with pytest.raises(ConfigurationError, match="LOG_CFG"):
        configure_logging(Settings(log_cfg=str(tmp_path / "missing.yaml")))


def test_redaction_leaves_other_values_alone() -> None:
    event = {"event": "x", "job_id": "j", "count": 3, "items": ["a"]}
    assert redact_secrets(None, "info", dict(event)) == event


def test_console_tracebacks_are_plain_whatever_is_installed() -> None:
    # A pretty traceback (rich, when installed) costs a large fraction of a second to render.
    stream = io.StringIO()
    configure_logging(Settings(log_format="console"), stream=stream)
    try:
        raise ValueError("boom")
    except ValueError:
        structlog.get_logger("test").exception("request_crashed")
        logging.getLogger("aiohttp.server").exception("Error handling request")
    text = stream.getvalue()
    assert text.count("Traceback (most recent call last):") == 2
    assert "ValueError: boom" in text
    assert "╭" not in text and "│" not in text
