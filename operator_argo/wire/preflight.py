"""Preflight: what cannot work is refused at POST /compute with a 400, before it is queued.

Each rule is declared here once, as a pattern or a schema beside the check that enforces it:
the stage's declarations (stage.py) use the patterns and the algorithm's rule, the OpenAPI
document (stage_schema.py, api/openapi.py) states the same ones, and the service applies the
two that depend on the environment and the clock (`check_environment`, `check_valid_until`).

The patterns are regular expressions in the common subset of ECMA-262 (OpenAPI's dialect) and
Python's; `Pattern.matches` searches with the very same text, as JSON Schema validators and
schemathesis do (so `$` also matches before one final newline, as in Python).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any

from operator_argo.domain.environment import Environment
from operator_argo.domain.errors import InvalidRequest
from operator_argo.domain.job import JobSpec
from operator_argo.wire.values import Schema


@dataclasses.dataclass(frozen=True)
class Pattern:
    """An anchored regular expression a text must match, and what to say when it does not."""

    text: str
    message: str

    @functools.cached_property
    def _compiled(self) -> re.Pattern[str]:
        return re.compile(self.text)

    def matches(self, value: str) -> bool:
        return self._compiled.search(value) is not None


def _anycase(word: str) -> str:
    """`word` matched in any case without a flag (OpenAPI patterns have none)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else _literal(c) for c in word)


def _literal(char: str) -> str:
    return "\\" + char if char in ".^$*+?()[]{}|\\" else char


_DOMAIN_PART = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_PATH_PART = r"[a-z0-9]+(?:(?:__|[_.]|-+)[a-z0-9]+)*"
IMAGE = Pattern(
    rf"^(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?/)?{_PATH_PART}(?:/{_PATH_PART})*$",
    "is not an image reference (a repository such as `python` or `registry:5000/org/algo`, "
    "lowercase, its tag and digest given apart)",
)
TAG = Pattern(
    r"^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$",
    "is not an image tag (up to 128 letters, digits, `_`, `.` and `-`; empty = latest)",
)
CHECKSUM = Pattern(
    r"^(sha256:[0-9a-fA-F]{64})?$", "is not an image digest (`sha256:` and 64 hex digits)"
)
ENTRYPOINT = Pattern(r"^[^\x00]*[^\x00\s][^\x00]*$", "is empty: nothing would run")
HTTP_URL = Pattern(rf"^{_anycase('http')}[sS]?://[^\x00]+$", "must be an http or https URL")

# Hosts that reach this machine, its link or a cloud's metadata service, spelled as literals:
# names are not resolved at POST (the configure step fetches what the name resolves to then).
_LOCAL_HOSTS = "|".join(
    [
        rf"{_anycase('localhost')}\.?",
        rf"[^/?#:]*\.{_anycase('localhost')}\.?",
        r"127\.[0-9.]*",
        r"169\.254\.[0-9.]*",
        r"100\.100\.100\.200",
        r"0[0-9a-fA-FxX.]*",  # 0.0.0.0, and octal or hexadecimal spellings of any address
        r"[0-9]+",  # an address as one decimal number
        rf"{_anycase('metadata')}(?:\.{_anycase('google')}\.{_anycase('internal')})?\.?",
        rf"{_anycase('instance-data')}(?:\.{_anycase('ec2')}\.{_anycase('internal')})?\.?",
        r"\[[0:]*1?\]",  # ::1 and ::
        r"\[[fF][eE][89aAbB][^\]]*\]",  # fe80::/10
        r"\[[fF][dD]0*0:[eE][cC]2::254\]",
        r"\[[0:]*[fF]{4}:[^\]]*\]",  # IPv4-mapped
    ]
)
PUBLIC_URL = Pattern(
    rf"^{_anycase('http')}[sS]?://(?:[^/?#@]*@)?(?![^/?#]*@)"
    rf"(?!(?:{_LOCAL_HOSTS})(?:[:/?#]|$))[^\x00]+$",
    "points at a loopback, link-local or metadata address, which this environment refuses",
)

NO_SOURCE = "the algorithm has no rawcode, url, id (a DID) or remote: nothing to run"
NO_FILES = "the input has neither url nor remote: nothing to download"
ONE_INSTANCE = "an environment runs one instance of a job"
VALID_UNTIL_PAST = "validUntil is already past"


def _present_text(key: str) -> Schema:
    return {"required": [key], "properties": {key: {"type": "string", "minLength": 1}}}


_PRESENT_URL: Schema = {
    "required": ["url"],
    "properties": {
        "url": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "array", "minItems": 1}]}
    },
}
_PRESENT_REMOTE: Schema = {
    "required": ["remote"],
    "properties": {
        "remote": {
            "type": "object",
            "required": ["txId", "serviceId"],
            "properties": {
                "txId": {"type": "string", "minLength": 1},
                "serviceId": {"type": "string", "minLength": 1},
            },
        }
    },
}
ALGORITHM_SOURCES: list[Schema] = [
    _present_text("rawcode"),
    _PRESENT_URL,
    _present_text("id"),
    _PRESENT_REMOTE,
]
"""The algorithm's rule as a schema (anyOf): raw code, a URL, a DID or a remote."""
INPUT_SOURCES: list[Schema] = [_PRESENT_URL, _PRESENT_REMOTE]
"""An input's rule as a schema (anyOf): URLs or a remote."""


def has_algorithm_source(data: dict[str, Any]) -> bool:
    """The algorithm's rule on its parsed fields (`ALGORITHM_SOURCES` states it)."""
    return bool(data["rawcode"] or data["url"] or data["id"] or data["remote"])


def has_input_source(data: dict[str, Any]) -> bool:
    """An input's rule on its parsed fields (`INPUT_SOURCES` states it)."""
    return bool(data["url"] or data["remote"])


# --- rules that depend on the environment or the clock: the service applies them ------------


def url_overlay() -> Schema:
    """What an environment that refuses local addresses adds to a workflow's schema."""
    url: Schema = {"pattern": PUBLIC_URL.text, "items": {"pattern": PUBLIC_URL.text}}
    return {
        "properties": {
            "stages": {
                "items": {
                    "properties": {
                        "input": {"items": {"properties": {"url": url}}},
                        "algorithm": {"properties": {"url": url}},
                    }
                }
            }
        }
    }


def check_environment(spec: JobSpec, environment: Environment) -> None:
    """The rules of `environment` on a parsed stage: InvalidRequest naming the first refusal."""
    if not environment.refuse_local_urls:
        return
    located = [(f"input.{i}", item.urls) for i, item in enumerate(spec.inputs)]
    located.append(("algorithm", spec.algorithm.urls))
    for where, urls in located:
        for k, url in enumerate(urls):
            if not PUBLIC_URL.matches(url):
                raise InvalidRequest(f"stage 0.{where}.url.{k}: {PUBLIC_URL.message}")


def check_valid_until(valid_until: int | None, now: float) -> None:
    """A job must be allowed to run at all: `validUntil` (unix seconds) still ahead of `now`."""
    if valid_until is not None and valid_until <= now:
        raise InvalidRequest(VALID_UNTIL_PAST)
