"""Provider authentication: who signed a call and whether they may call.

With SIGNATURE_REQUIRED=0 the signature and nonce are not checked at all (no recovery, no nonce
claim): an operator that turned signatures off gets the original's open behaviour, and a test
request replayed against it still passes. The nonce comes parsed (wire/values.py), so a
malformed one is a 400 either way. With SIGNATURE_REQUIRED=1 the signer recovered from
`message_parts + str(nonce)` must be in ALLOWED_PROVIDERS; the (signer, nonce) pair it returns
is claimed by the store atomically, in the same statement as the call's own query, so a replay
(also on another replica) is refused and the call costs one database round trip.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from operator_argo.auth.signatures import SIGNATURE_REFUSED, recover_signer
from operator_argo.config import Settings
from operator_argo.domain.caller import NonceClaim
from operator_argo.domain.errors import Unauthorized

log = structlog.get_logger(__name__)


class ProviderAuth:
    """Checks the provider signature of one call."""

    def __init__(self, settings: Settings) -> None:
        self._required = settings.signature_required
        self._allowed = frozenset(address.lower() for address in settings.allowed_providers)

    @property
    def required(self) -> bool:
        return self._required

    def identify(
        self, message_parts: Sequence[str], signature: object, nonce: int | None
    ) -> NonceClaim | None:
        """The nonce the allowed signer spends, or None when signatures are not required.

        Raises InvalidSignature (400) for a malformed signature and Unauthorized (401) for a
        missing nonce or signature or a signer that is not allowed.
        """
        if not self._required:
            return None
        if nonce is None:
            raise Unauthorized("nonce is required")
        if signature is None or signature == "":
            raise Unauthorized("providerSignature is required")
        message = "".join(message_parts) + str(nonce)
        signer = recover_signer(message, signature).lower()
        if signer not in self._allowed:
            log.info("provider_not_allowed", signer=signer)
            raise Unauthorized(SIGNATURE_REFUSED)
        return NonceClaim(signer=signer, nonce=nonce)
