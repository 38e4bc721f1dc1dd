"""Provider signatures: parse a 65-byte r||s||v hex signature and recover who signed a message.

The provider signs `keccak256("\\x19Ethereum Signed Message:\\n32" || keccak256(utf8(message)))`,
which is eth-account's `sign_message(encode_defunct(primitive=keccak(text=message)), key)`.
This module is the only place the API's request path touches eth-account and eth-keys.
"""

from __future__ import annotations

import functools
import sys

import coincurve
import eth_keys.backends
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.backends.coincurve import CoinCurveECCBackend, is_coincurve_available
from eth_keys.exceptions import BadSignature
from eth_utils.crypto import keccak

from operator_argo.domain.errors import ConfigurationError, Unauthorized
from operator_argo.wire.values import decode_signature

SANE_RECURSION_LIMIT = 4000
"""What the interpreter's recursion limit is brought back to after eth-account's import.

Importing eth-account imports py_ecc, which raises the limit to 100,000; with that limit the C
JSON decoder follows a deeply nested document until the C stack overflows and the process dies.
"""

_EIP191_PREFIX = b"\x19Ethereum Signed Message:\n32"
SIGNATURE_REFUSED = "Invalid providerSignature"
"""A well-formed signature that is not an allowed provider's (or recovers no key at all)."""


def keep_sane_recursion_limit() -> None:
    """Lower the recursion limit back to a value the C stack can take, if an import raised it."""
    if sys.getrecursionlimit() > SANE_RECURSION_LIMIT:
        sys.setrecursionlimit(SANE_RECURSION_LIMIT)


keep_sane_recursion_limit()


def ensure_fast_backend() -> None:
    """Fail start-up unless eth-keys recovers signatures with coincurve.

    eth-keys picks its backend from the ECC_BACKEND_CLASS environment variable, else coincurve
    when it imports, else a pure-Python backend that is about fifty times slower.
    """
    keep_sane_recursion_limit()
    if not is_coincurve_available():
        raise ConfigurationError("coincurve is not importable: signature recovery would be slow")
    try:
        backend_class = eth_keys.backends.get_backend_class()
    except ImportError as exc:
        raise ConfigurationError(f"ECC_BACKEND_CLASS names no importable class: {exc}") from None
    if backend_class is not CoinCurveECCBackend:
        raise ConfigurationError(
            f"signature recovery would use {backend_class.__module__}.{backend_class.__name__}; "
            "leave ECC_BACKEND_CLASS unset or set it to eth_keys.backends.CoinCurveECCBackend"
        )


@functools.cache
def _account() -> Account:
    # An instance with its backend resolved once, instead of once per call (the class default).
    account = Account()
    if eth_keys.backends.get_backend_class() is CoinCurveECCBackend:
        account.set_key_backend(CoinCurveECCBackend())
    return account


def recover_signer(message: str, signature: object) -> str:
    """The lowercase hex address that signed `message`. InvalidSignature (400) for a signature
    that is not 65 bytes of hex with a valid v; Unauthorized (401) for one that recovers no key.

    The same computation as eth-account's `recover_message(encode_defunct(primitive=
    keccak(text=message)))` (the tests hold them equal), done with coincurve directly: eth-account's
    argument conversions cost three times the elliptic-curve work on this hot path.
    """
    raw = decode_signature(signature)
    digest = keccak(_EIP191_PREFIX + keccak(text=message))
    try:
        public = coincurve.PublicKey.from_signature_and_message(raw, digest, hasher=None)
    except ValueError as exc:
        raise Unauthorized(SIGNATURE_REFUSED) from exc
    return "0x" + keccak(public.format(compressed=False)[1:])[-20:].hex()


def recover_signer_checked(message: str, signature: object) -> str:
    """`recover_signer` through eth-account itself (checksummed): the reference it must match."""
    raw = decode_signature(signature)
    signable = encode_defunct(primitive=keccak(text=message))
    try:
        return str(_account().recover_message(signable, signature=raw))
    except (BadSignature, ValueError) as exc:
        raise Unauthorized(SIGNATURE_REFUSED) from exc


def sign_text(message: str, private_key: str | bytes) -> str:
    """Sign `message` the way a provider does; 0x-prefixed hex. (For tools and tests.)"""
    signable = encode_defunct(primitive=keccak(text=message))
    signed = Account.sign_message(signable, private_key)
    return "0x" + bytes(signed.signature).hex()
