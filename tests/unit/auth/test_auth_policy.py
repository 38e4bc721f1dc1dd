"""ProviderAuth: required or not, allow-list and one use per (signer, nonce)."""

from __future__ import annotations

import asyncio

import pytest
from eth_account import Account

from operator_argo.auth.policy import ProviderAuth
from operator_argo.auth.signatures import sign_text
from operator_argo.config import Settings
from operator_argo.domain.errors import InvalidSignature, NonceRejected, Unauthorized

NONCE = 1700000000123456789


class MemoryNonces:
    """An in-memory nonce store with the store's contract: each pair is accepted once."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, int]] = set()
        self._lock = asyncio.Lock()

    async def claim_nonce(self, signer: str, nonce: int) -> bool:
        async with self._lock:
            await asyncio.sleep(0)
            if (signer, nonce) in self.seen:
                return False
            self.seen.add((signer, nonce))
            return True


@pytest.fixture
def provider() -> Account:
    return Account.create()


def _auth(provider: Account, nonces: MemoryNonces, required: bool = True) -> ProviderAuth:
    settings = Settings(
        signature_required=required,
        allowed_providers=frozenset({provider.address.lower()}),
    )
    return ProviderAuth(settings, nonces)


async def test_an_allowed_signer_passes_once_per_nonce(provider: Account) -> None:
    nonces = MemoryNonces()
    auth = _auth(provider, nonces)
    owner, job_id = "0xOwner", "4d32947065bb46c8b87c1f7adfb7ed8b"
    signature = sign_text(owner + job_id + str(NONCE), provider.key)
    signer = await auth.verify([owner, job_id], signature, NONCE)
    assert signer == provider.address.lower()
    assert nonces.seen == {(provider.address.lower(), NONCE)}
    with pytest.raises(NonceRejected):
        await auth.verify([owner, job_id], signature, NONCE)


async def test_the_signed_message_must_include_the_nonce(provider: Account) -> None:
    auth = _auth(provider, MemoryNonces())
    # The original's bug: a signature over the message without the nonce.
    signature = sign_text("0xOwner", provider.key)
    with pytest.raises(Unauthorized):
        await auth.verify(["0xOwner"], signature, NONCE)


async def test_a_signer_not_allowed_is_unauthorized(provider: Account) -> None:
    nonces = MemoryNonces()
    stranger = Account.create()
    signature = sign_text("0xOwner" + str(NONCE), stranger.key)
    with pytest.raises(Unauthorized) as caught:
        await _auth(provider, nonces).verify(["0xOwner"], signature, NONCE)
    assert not isinstance(caught.value, NonceRejected)
    assert nonces.seen == set()  # a refused caller burns no nonce


async def test_allow_list_is_case_insensitive(provider: Account) -> None:
    settings = Settings(signature_required=True, allowed_providers=frozenset({provider.address}))
    auth = ProviderAuth(settings, MemoryNonces())
    signature = sign_text("o" + str(NONCE), provider.key)
    assert await auth.verify(["o"], signature, NONCE) == provider.address.lower()


async def test_garbage_signature_is_a_bad_request(provider: Account) -> None:
    with pytest.raises(InvalidSignature):
        await _auth(provider, MemoryNonces()).verify(["o"], "0xnothex", NONCE)


@pytest.mark.parametrize("signature", [None, ""])
async def test_missing_signature_is_unauthorized(provider: Account, signature: object) -> None:
    with pytest.raises(Unauthorized):
        await _auth(provider, MemoryNonces()).verify(["o"], signature, NONCE)


async def test_missing_nonce_is_unauthorized_when_required(provider: Account) -> None:
    signature = sign_text("o", provider.key)
    with pytest.raises(Unauthorized):
        await _auth(provider, MemoryNonces()).verify(["o"], signature, None)


async def test_not_required_passes_unsigned_calls_and_claims_nothing(provider: Account) -> None:
    nonces = MemoryNonces()
    auth = _auth(provider, nonces, required=False)
    assert await auth.verify(["o"], None, None) is None
    assert await auth.verify(["o"], "garbage", NONCE) is None
    assert await auth.verify(["o"], "garbage", NONCE) is None  # a replay too
    assert nonces.seen == set()


async def test_concurrent_claims_of_one_nonce_let_exactly_one_through(provider: Account) -> None:
    auth = _auth(provider, MemoryNonces())
    signature = sign_text("o" + str(NONCE), provider.key)
    outcomes = await asyncio.gather(
        *(auth.verify(["o"], signature, NONCE) for _ in range(8)), return_exceptions=True
    )
    assert sum(1 for item in outcomes if item == provider.address.lower()) == 1
    assert all(isinstance(item, NonceRejected) for item in outcomes if not isinstance(item, str))
