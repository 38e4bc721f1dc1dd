"""The download signer: signs provider download requests with the environment's key."""

from __future__ import annotations

import threading
import time

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.crypto import keccak

from operator_argo.domain.errors import ConfigurationError


class DownloadSigner:
    """Holds the environment's key; signs `did + nonce` the way Ocean providers verify it."""

    def __init__(self, private_key: str) -> None:
        try:
            self._account = Account.from_key(private_key)
        except (ValueError, TypeError):
            raise ConfigurationError("OPERATOR_ENV_KEY is not a valid private key") from None
        self._last_nonce = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DownloadSigner(address={self.address})"

    @property
    def address(self) -> str:
        """The consumer address providers see (checksummed)."""
        return str(self._account.address)

    def next_nonce(self) -> int:
        """Epoch milliseconds, strictly increasing across calls (providers reject reuse)."""
        with self._lock:
            nonce = max(int(time.time() * 1000), self._last_nonce + 1)
            self._last_nonce = nonce
            return nonce

    def sign(self, did: str, nonce: int) -> str:
        """0x-prefixed 65-byte signature over keccak(did + nonce), EIP-191 wrapped (CONTRACT §5)."""
        message = encode_defunct(primitive=keccak(text=f"{did}{nonce}"))
        signed = self._account.sign_message(message)
        return "0x" + bytes(signed.signature).hex()
