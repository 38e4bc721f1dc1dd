"""Provider authentication: who signed a call, whether they may call, and one use per nonce.

With SIGNATURE_REQUIRED=0 the signature and nonce are not checked at all (no recovery, no nonce
claim): an operator that turned signatures off gets the original's open behaviour, and a test
request replayed against it still passes. A nonce that is present must still be a well-formed
integer, so bad input is a 400 either way. With SIGNATURE_REQUIRED=1 the signer recovered from
`message_parts + str(nonce)` must be in ALLOWED_PROVIDERS and the (signer, nonce) pair is claimed
atomically in the store, so a replay (also on another replica) is refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

import structlog

from operator_argo.auth.signatures import SIGNATURE_REFUSED, recover_signer
from operator_argo.config import Settings
from operator_argo.domain.errors import InvalidRequest, NonceRejected, Unauthorized

log = structlog.get_logger(__name__)

MAX_NONCE_DIGITS = 78
"""Longest nonce accepted (a uint256 has 78 digits; time.time_ns() has 19)."""
NONCE_TEXT = rf"^\s*0*[0-9]{{1,{MAX_NONCE_DIGITS}}}\s*$"
"""A nonce as text, as `parse_nonce` takes it (documented in the OpenAPI document)."""
OPTIONAL_NONCE_TEXT = rf"^(\s*0*[0-9]{{1,{MAX_NONCE_DIGITS}}}\s*)?$"
"""The same, or "" (a query string's nonce is then absent)."""

_DIGITS = re.compile(r"^[0-9]+$")


class NonceStore(Protocol):
    """The part of the job store provider auth needs."""

    async def claim_nonce(self, signer: str, nonce: int) -> bool: ...


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


class ProviderAuth:
    """Checks the provider signature and nonce of one call."""

    def __init__(self, settings: Settings, store: NonceStore) -> None:
        self._required = settings.signature_required
        self._allowed = frozenset(address.lower() for address in settings.allowed_providers)
        self._store = store

    @property
    def required(self) -> bool:
        return self._required

    async def verify(
        self, message_parts: Sequence[str], signature: object, nonce: object
    ) -> str | None:
        """The signer's address (lowercased), or None when signatures are not required.

        Raises InvalidRequest/InvalidSignature (400) for a malformed nonce or signature,
        Unauthorized (401) for a missing signature or a signer that is not allowed, and
        NonceRejected (401) for a nonce this signer used before.
        """
        number = None if nonce is None or nonce == "" else parse_nonce(nonce)  # "": absent
        if not self._required:
            return None
        if number is None:
            raise Unauthorized("nonce is required")
        if signature is None or signature == "":
            raise Unauthorized("providerSignature is required")
        message = "".join(message_parts) + str(number)
        signer = recover_signer(message, signature).lower()
        if signer not in self._allowed:
            log.info("provider_not_allowed", signer=signer)
            raise Unauthorized(SIGNATURE_REFUSED)
        if not await self._store.claim_nonce(signer, number):
            log.info("nonce_rejected", signer=signer, nonce=str(number))
            raise NonceRejected("Invalid nonce: already used or too old")
        return signer
