"""The kinds of value a request parameter holds; each parses what a client sends and states the
same rule as a JSON schema, side by side, so that the parsers and the OpenAPI document agree.

`parse(value, key, required=...)` gives the value as the service wants it (None when absent) or
raises InvalidRequest naming `key`. `schema(in_query=..., required=...)` describes it in OpenAPI
3.0 terms: in a query string every value is a string, in a JSON body it may be a number or null
too. tests/unit/wire holds each parse and its schema equal over a corpus of awkward values.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Protocol

from operator_argo.domain.errors import InvalidRequest, InvalidSignature

Schema = dict[str, Any]

MAX_TEXT = 1024
"""Longest text parameter (ids, owners, addresses)."""
MAX_DIGITS = 18
"""chainId, validUntil and a result index have at most 18 digits: any of them fits a bigint."""
LARGEST = 10**MAX_DIGITS - 1
MAX_NONCE_DIGITS = 78
"""Longest nonce accepted (a uint256 has 78 digits; time.time_ns() has 19)."""

NO_NUL = r"^[^\x00]*$"
NON_BLANK = r"^[^\x00]*[^\x00\s][^\x00]*$"  # what `str.strip()` leaves something of
UNSIGNED_TEXT = rf"^\s*[0-9]{{1,{MAX_DIGITS}}}\s*$"
SIGNED_TEXT = rf"^\s*-?[0-9]{{1,{MAX_DIGITS}}}\s*$"
NONCE_TEXT = rf"^\s*0*[0-9]{{1,{MAX_NONCE_DIGITS}}}\s*$"
SIGNATURE_TEXT = r"^\s*(0x)?[0-9a-fA-F]{128}(0[01]|1[bBcC])\s*$"
"""65 bytes of hex whose v is 0, 1, 27 or 28: what `decode_signature` takes."""

_UNSIGNED = re.compile(UNSIGNED_TEXT)
_SIGNED = re.compile(SIGNED_TEXT)
_DIGITS = re.compile(r"^[0-9]+$")
_SIGNATURE = re.compile(r"^(?:0x)?([0-9a-fA-F]{130})$")


def optional(pattern: str) -> str:
    """An anchored `pattern` that also matches "" (a query value that counts as absent)."""
    return f"^({pattern[1:-1]})?$"


def nullable(schema: Schema, required: bool) -> Schema:
    """`schema`, admitting null when the parameter is optional (null counts as absent)."""
    return schema if required else {"nullable": True, **schema}


def is_storable(text: str) -> bool:
    """Whether PostgreSQL can store `text`: no NUL character, no unpaired surrogate. Fields that
    are stored as text are checked with this; free-form JSON values are stored however they are
    (see store/rows.py)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Kind(Protocol):
    """How one parameter is parsed and described."""

    def parse(self, value: Any, key: str, *, required: bool) -> Any: ...

    def schema(self, *, in_query: bool, required: bool) -> Schema: ...


@dataclasses.dataclass(frozen=True)
class Text:
    """A string stored as text: at most `max_length` characters and no NUL; a required one must
    not be blank. An optional one may be "" (kept as given)."""

    max_length: int = MAX_TEXT

    def parse(self, value: Any, key: str, *, required: bool) -> str | None:
        if value is None:
            if required:
                raise InvalidRequest(f"{key} is required")
            return None
        if not isinstance(value, str):
            raise InvalidRequest(f"{key} must be a string")
        if len(value) > self.max_length:
            raise InvalidRequest(f"{key} is too long")
        if not is_storable(value):
            raise InvalidRequest(f"{key} must be text without NUL characters")
        if required and not value.strip():
            raise InvalidRequest(f"{key} must not be empty")
        return value

    def schema(self, *, in_query: bool, required: bool) -> Schema:
        pattern = NON_BLANK if required else NO_NUL
        text: Schema = {"type": "string", "maxLength": self.max_length, "pattern": pattern}
        return text if in_query else nullable(text, required)


def parse_integer(
    value: Any, key: str, *, signed: bool = False, integral_floats: bool = False
) -> int | None:
    """`value` as an integer of at most 18 digits (non-negative unless `signed`): a JSON
    integer or a string of digits (or, with `integral_floats`, a number like 1.7e9); None when
    absent or empty. Anything else is an InvalidRequest naming `key`, the same whether it came
    in a body or a query string."""
    if value is None or value == "":
        return None
    if integral_floats and isinstance(value, float) and value.is_integer():
        value = int(value)  # range-checked below
    if isinstance(value, str) and (_SIGNED if signed else _UNSIGNED).match(value):
        value = int(value.strip())
    lowest = -LARGEST if signed else 0
    if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= LARGEST:
        kind = "an integer" if signed else "a non-negative integer"
        raise InvalidRequest(f"{key} must be {kind} of at most {MAX_DIGITS} digits")
    return value


@dataclasses.dataclass(frozen=True)
class Integer:
    """An integer of at most 18 digits (`parse_integer`); "" and null count as absent."""

    signed: bool = False
    integral_floats: bool = False

    def parse(self, value: Any, key: str, *, required: bool) -> int | None:
        number = parse_integer(value, key, signed=self.signed, integral_floats=self.integral_floats)
        if number is None and required:
            raise InvalidRequest(f"{key} is required")
        return number

    def schema(self, *, in_query: bool, required: bool) -> Schema:
        digits = SIGNED_TEXT if self.signed else UNSIGNED_TEXT
        text: Schema = {"type": "string", "pattern": digits if required else optional(digits)}
        if in_query:
            return text
        bounds = {"minimum": -LARGEST if self.signed else 0, "maximum": LARGEST}
        number: Schema = (
            {"type": "number", "multipleOf": 1, **bounds}
            if self.integral_floats
            else {"type": "integer", **bounds}
        )
        return nullable({"anyOf": [number, text]}, required)


def parse_nonce(value: object) -> int:
    """A nonce as an exact integer: an int or a string of decimal digits, never a float."""
    if isinstance(value, bool):
        raise InvalidRequest("nonce must be an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _DIGITS.match(value.strip()):
        text = value.strip().lstrip("0") or "0"
        if len(text) > MAX_NONCE_DIGITS:
            raise InvalidRequest("nonce is too large")
        number = int(text)
    else:
        raise InvalidRequest("nonce must be an integer")
    if number < 0:
        raise InvalidRequest("nonce must not be negative")
    if number >= 10**MAX_NONCE_DIGITS:
        raise InvalidRequest("nonce is too large")
    return number


@dataclasses.dataclass(frozen=True)
class Nonce:
    """A nonce (`parse_nonce`), compared as a big integer; an optional one may be "" (absent)."""

    def parse(self, value: Any, key: str, *, required: bool) -> int | None:
        if value is None or (value == "" and not required):
            if required:
                raise InvalidRequest(f"{key} is required")
            return None
        return parse_nonce(value)

    def schema(self, *, in_query: bool, required: bool) -> Schema:
        text: Schema = {
            "type": "string",
            "pattern": NONCE_TEXT if required else optional(NONCE_TEXT),
        }
        if in_query:
            return text
        number: Schema = {"type": "integer", "minimum": 0, "maximum": 10**MAX_NONCE_DIGITS - 1}
        return nullable({"anyOf": [number, text]}, required)


def decode_signature(signature: object) -> bytes:
    """The 65 signature bytes with v normalised to 0/1; InvalidSignature for anything else."""
    if not isinstance(signature, str):
        raise InvalidSignature("providerSignature must be a hex string")
    match = _SIGNATURE.match(signature.strip())
    if match is None:
        raise InvalidSignature("providerSignature must be 65 bytes of hex (r||s||v)")
    raw = bytes.fromhex(match.group(1))
    v = raw[64]
    if v in (27, 28):
        v -= 27
    if v not in (0, 1):
        raise InvalidSignature("providerSignature has an invalid recovery id (v)")
    return raw[:64] + bytes((v,))


@dataclasses.dataclass(frozen=True)
class Signature:
    """A provider signature, passed on as sent: it is decoded (`decode_signature`) only where
    signatures are required, and the document then states `SIGNATURE_TEXT`."""

    def parse(self, value: Any, key: str, *, required: bool) -> Any:
        return value

    def schema(self, *, in_query: bool, required: bool) -> Schema:
        return {
            "type": "string",
            "pattern": SIGNATURE_TEXT,
            "description": "65 bytes of hex, r||s||v (v 0, 1, 27 or 28)",
        }


@dataclasses.dataclass(frozen=True)
class Json:
    """A value passed on as sent (parsed later, or ignored), described by `described`."""

    described: Schema

    def parse(self, value: Any, key: str, *, required: bool) -> Any:
        return value

    def schema(self, *, in_query: bool, required: bool) -> Schema:
        return dict(self.described)
