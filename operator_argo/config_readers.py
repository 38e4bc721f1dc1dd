"""How settings are declared and read: the `setting(...)` field and the readers of env text.

config.py declares every setting with `setting(...)`; a reader turns a variable's text into the
value and raises ConfigurationError naming the variable.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from operator_argo.domain.errors import ConfigurationError
from operator_argo.domain.notice import is_receiver_url

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

Env = Mapping[str, str]
Reader = Callable[[Env, str, Any], Any]
"""How a setting is read: (environment, variable name, default) -> value; raises
ConfigurationError naming the variable."""


# --- readers -------------------------------------------------------------------------------------


def text(env: Env, name: str, default: str) -> str:
    """The stripped text; `default` when unset."""
    return env.get(name, default).strip()


def nonempty_text(env: Env, name: str, default: str) -> str:
    """The stripped text; `default` when unset or empty."""
    return text(env, name, default) or default


def raw_text(env: Env, name: str, default: str) -> str:
    """The value exactly as given (passwords and keys may have spaces)."""
    return env.get(name, default)


def integer(minimum: int = 0) -> Reader:
    """An integer of at least `minimum`; the default when unset or empty."""

    def read(env: Env, name: str, default: int) -> int:
        raw = env.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
        if value < minimum:
            raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
        return value

    return read


def positive_number(env: Env, name: str, default: float) -> float:
    """Variable `name` of `env` as a number > 0 (`default` when unset or empty)."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {raw!r}")
    return value


def boolean(env: Env, name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be 0 or 1, got {raw!r}")


def choice(*choices: str, upper: bool = False) -> Reader:
    """One of `choices` (case-insensitive); stored upper-cased when `upper`."""

    def read(env: Env, name: str, default: str) -> str:
        value = text(env, name, default).lower() or default.lower()
        if value not in choices:
            raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value.upper() if upper else value

    return read


def address_list(env: Env, name: str, default: frozenset[str]) -> frozenset[str]:
    """A JSON list of strings (a comma-separated list is accepted), lowercased."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        # Be kind to a comma-separated list; the original only took JSON.
        value = [part.strip() for part in raw.split(",") if part.strip()]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigurationError(f"{name} must be a JSON list of addresses, got {raw!r}")
    return frozenset(item.strip().lower() for item in value)


def receiver_url(env: Env, name: str, default: str) -> str:
    """Empty, or an http(s) URL with a host (where notices are POSTed)."""
    value = text(env, name, default)
    if value and not is_receiver_url(value):
        raise ConfigurationError(f"{name} must be an http(s) URL, got {value!r}")
    return value


def path(env: Env, name: str, default: Path | None) -> Path | None:
    raw = text(env, name, "")
    return Path(raw) if raw else default


def derived(env: Env, name: str, default: Any) -> Any:
    """Read by `load_settings` itself, from other settings too (see there)."""
    return default


# --- declarations --------------------------------------------------------------------------------

DECLARED = "operator_argo.setting"  # the field metadata key of a declaration


@dataclasses.dataclass(frozen=True, kw_only=True)
class Declared:
    """One setting: the variable (and aliases read when it is unset), how it is read and shown."""

    env: str
    aliases: tuple[str, ...] = ()
    default: Any = None
    doc: str
    unit: str = ""
    secret: bool = False
    chart: str = ""
    shown: str | None = None  # how the docs show the default, when not the value itself
    read: Reader = text

    @property
    def names(self) -> tuple[str, ...]:
        return (self.env, *self.aliases)

    def value(self, env: Env) -> Any:
        for name in self.aliases:
            if self.env not in env and name in env:
                return self.read(env, name, self.default)
        return self.read(env, self.env, self.default)


def setting(
    env: str,
    default: Any,
    doc: str,
    *,
    read: Reader = text,
    unit: str = "",
    secret: bool = False,
    chart: str = "",
    aliases: tuple[str, ...] = (),
    shown: str | None = None,
) -> Any:
    """A Settings field declared with everything known about it (module docstring)."""
    declared = Declared(
        env=env,
        aliases=aliases,
        default=default,
        doc=doc,
        unit=unit,
        secret=secret,
        chart=chart,
        shown=shown,
        read=read,
    )
    return dataclasses.field(default=default, repr=not secret, metadata={DECLARED: declared})


def group(kind: type) -> Any:
    """A field holding a group of settings (a frozen dataclass of declared fields)."""
    return dataclasses.field(default_factory=kind)
