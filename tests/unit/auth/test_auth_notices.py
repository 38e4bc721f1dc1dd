"""The notice signer: EIP-191 over keccak256 of the body, by the environment's own key."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.crypto import keccak

from operator_argo.auth.notices import EnvironmentSigner
from operator_argo.domain.environment import Environment, KeySource
from operator_argo.domain.errors import ConfigurationError

KEY = "0x" + "4c" * 32


def signer() -> EnvironmentSigner:
    environment = Environment(id="gpu", namespace="gpu", key=KeySource(env="GPU_KEY"))
    return EnvironmentSigner.for_environments([environment], {"GPU_KEY": KEY})


def test_a_signature_recovers_to_the_environments_address_over_the_exact_body() -> None:
    body = b'{"event":"finish","jobId":"abc","status":70}'
    signature = signer().sign("gpu", body)
    assert signature.startswith("0x") and len(signature) == 2 + 130
    recovered = Account.recover_message(encode_defunct(primitive=keccak(body)), signature=signature)
    assert recovered == Account.from_key(KEY).address == signer().address("gpu")
    tampered = Account.recover_message(
        encode_defunct(primitive=keccak(body.replace(b"70", b"31"))), signature=signature
    )
    assert tampered != recovered


def test_an_environment_whose_key_the_operator_cannot_read_cannot_send_notices() -> None:
    in_a_secret = Environment(id="cpu", namespace="cpu", key=KeySource(secret_name="cpu-key"))
    with pytest.raises(ConfigurationError, match="environment cpu sends notices"):
        EnvironmentSigner.for_environments([in_a_secret], {})


def test_the_signer_never_shows_its_keys() -> None:
    assert "4c4c" not in repr(signer()) and "gpu" in repr(signer())
