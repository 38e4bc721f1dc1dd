"""Provider authentication: who signed a call, whether they may call, and one use per nonce.

With SIGNATURE_REQUIRED=0 the signature and nonce are not checked at all (no recovery, no nonce
claim): an operator that turned signatures off gets the original's open behaviour, and a test
request replayed against it still passes. The nonce comes parsed (wire/values.py), so a
malformed one is a 400 either way. With SIGNATURE_REQUIRED=1 the signer recovered from
`message_parts + str(nonce)` must be in ALLOWED_PROVIDERS and the (signer, nonce) pair is claimed
atomically in the store, so a replay (also on another replica) is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import structlog

from operator_argo.auth.signatures import SIGNATURE_REFUSED, recover_signer
from operator_argo.config import Settings
from operator_argo.domain.errors import NonceRejected, Unauthorized

log = structlog.get_logger(__name__)


class NonceStore(Protocol):
    """The part of the job store provider auth needs."""

    async def claim_nonce(self, signer: str, nonce: int) -> bool: ...


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
        self, message_parts: Sequence[str], signature: object, nonce: int | None
    ) -> str | None:
        """The signer's address (lowercased), or None when signatures are not required.

        Raises InvalidSignature (400) for a malformed signature, Unauthorized (401) for a
        missing nonce or signature or a signer that is not allowed, and NonceRejected (401) for a
        nonce this signer used before.
        """
        if not self._required:
            return None
        number = nonce
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
