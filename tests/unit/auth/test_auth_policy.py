"""ProviderAuth: required or not, the allow-list, and the nonce claim it hands to the store."""

from __future__ import annotations

import pytest
from eth_account import Account

from operator_argo.auth.policy import ProviderAuth
from operator_argo.auth.signatures import sign_text
from operator_argo.config import Settings
from operator_argo.domain.caller import NonceClaim
from operator_argo.domain.errors import InvalidSignature, NonceRejected, Unauthorized

NONCE = 1700000000123456789


@pytest.fixture
def provider() -> Account:
    return Account.create()


def _auth(provider: Account, required: bool = True) -> ProviderAuth:
    settings = Settings(
        signature_required=required,
        allowed_providers=frozenset({provider.address.lower()}),
    )
    return ProviderAuth(settings)


def test_an_allowed_signer_gets_its_nonce_claim(provider: Account) -> None:
    owner, job_id = "0xOwner", "4d32947065bb46c8b87c1f7adfb7ed8b"
    signature = sign_text(owner + job_id + str(NONCE), provider.key)
    claim = _auth(provider).identify([owner, job_id], signature, NONCE)
    assert claim == NonceClaim(signer=provider.address.lower(), nonce=NONCE)
    assert isinstance(claim.refused(), NonceRejected)


def test_the_signed_message_must_include_the_nonce(provider: Account) -> None:
    # The original's bug: a signature over the message without the nonce.
    signature = sign_text("0xOwner", provider.key)
    with pytest.raises(Unauthorized):
        _auth(provider).identify(["0xOwner"], signature, NONCE)


def test_a_signer_not_allowed_is_unauthorized(provider: Account) -> None:
    stranger = Account.create()
    signature = sign_text("0xOwner" + str(NONCE), stranger.key)
    with pytest.raises(Unauthorized) as caught:
        _auth(provider).identify(["0xOwner"], signature, NONCE)
    assert not isinstance(caught.value, NonceRejected)


def test_allow_list_is_case_insensitive(provider: Account) -> None:
    settings = Settings(signature_required=True, allowed_providers=frozenset({provider.address}))
    signature = sign_text("o" + str(NONCE), provider.key)
    claim = ProviderAuth(settings).identify(["o"], signature, NONCE)
    assert claim is not None and claim.signer == provider.address.lower()


def test_garbage_signature_is_a_bad_request(provider: Account) -> None:
    with pytest.raises(InvalidSignature):
        _auth(provider).identify(["o"], "0xnothex", NONCE)


@pytest.mark.parametrize("signature", [None, ""])
def test_missing_signature_is_unauthorized(provider: Account, signature: object) -> None:
    with pytest.raises(Unauthorized):
        _auth(provider).identify(["o"], signature, NONCE)


def test_missing_nonce_is_unauthorized_when_required(provider: Account) -> None:
    signature = sign_text("o", provider.key)
    with pytest.raises(Unauthorized):
        _auth(provider).identify(["o"], signature, None)


def test_not_required_passes_unsigned_calls_and_claims_nothing(provider: Account) -> None:
    auth = _auth(provider, required=False)
    assert auth.identify(["o"], None, None) is None
    assert auth.identify(["o"], "garbage", NONCE) is None
