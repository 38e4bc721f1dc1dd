"""A verified caller's nonce, claimed by the store in the same statement as the call's query."""

from __future__ import annotations

import dataclasses

from operator_argo.domain.errors import NonceRejected
from operator_argo.domain.messages import NONCE_REFUSED


@dataclasses.dataclass(frozen=True, kw_only=True)
class NonceClaim:
    """The (signer, nonce) pair an allowed provider's call spends: accepted once, atomically,
    and only if not too far below the signer's highest (CONTRACT.md section 5)."""

    signer: str  # lowercased address
    nonce: int

    def refused(self) -> NonceRejected:
        """The error of a call whose nonce was used before or is too old."""
        return NonceRejected(NONCE_REFUSED)
