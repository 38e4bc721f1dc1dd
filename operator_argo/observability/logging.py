"""Logging: structlog events through the standard library, as JSON or console lines.

Every event carries the context bound with structlog.contextvars (the API binds `request_id`),
a level, a logger name and a UTC timestamp. Values under keys that look secret (key, secret,
password, signature, token) are replaced before rendering. A LOG_CFG file (a logging dictConfig
as YAML or JSON) replaces the handlers this module would install.
"""

from __future__ import annotations

import logging
import logging.config
import re
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, TextIO

import structlog
import yaml

from operator_argo.config import Settings
from operator_argo.domain.errors import ConfigurationError

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(r"key|secret|password|passwd|signature|token|credential", re.IGNORECASE)


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: REDACTED if isinstance(key, str) and _SECRET_KEY.search(key) else _redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(item) for item in value]
    return value


def redact_secrets(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: hide values whose key names a secret, also inside dicts and lists."""
    for key in list(event_dict):
        if _SECRET_KEY.search(key):
            event_dict[key] = REDACTED
        elif isinstance(event_dict[key], dict | list | tuple):
            event_dict[key] = _redact(event_dict[key])
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]


def _renderer(log_format: str) -> Any:
    if log_format == "json":
        return structlog.processors.JSONRenderer()
    # Plain tracebacks, whatever is installed: a pretty one (rich) costs the event loop a
    # large fraction of a second per exception, and a server must never pay that.
    return structlog.dev.ConsoleRenderer(
        colors=False, exception_formatter=structlog.dev.plain_traceback
    )


def _load_dict_config(path: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))  # YAML covers JSON
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"LOG_CFG: cannot load {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"LOG_CFG: {path} must hold a logging dictConfig mapping")
    # Modules create their loggers at import, before this runs: keep them unless told otherwise.
    data.setdefault("disable_existing_loggers", False)
    return data


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Set up structlog and the root logger from `settings` (LOG_CFG wins over level/format)."""
    shared = _shared_processors()
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    if settings.log_cfg:
        try:
            logging.config.dictConfig(_load_dict_config(settings.log_cfg))
        except (ValueError, TypeError, AttributeError, ImportError) as exc:
            raise ConfigurationError(f"LOG_CFG: invalid logging configuration: {exc}") from None
        return
    final: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if settings.log_format == "json":
        final.append(structlog.processors.format_exc_info)
    final.append(_renderer(settings.log_format))
    formatter = structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=final)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.log_level)
    # aiohttp's access log would cost a line per request; operators enable it by LOG_CFG.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
