"""The notice signer: signs start and finish notices with the environment's own key.

The scheme is the one the configure step uses for provider downloads (CONTRACT §5): the
signature is EIP-191 over the keccak256 of the message, `sign_message(encode_defunct(
primitive=keccak(message)), key)`, sent as 65-byte hex r||s||v. The message is the exact body
bytes POSTed. A receiver recovers the address from keccak256(body) and compares it with the
environment's `consumerAddress` (GET /environments), which the notice also names in a header.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from operator_argo.auth.keys import load_private_key
from operator_argo.domain.environment import Environment
from operator_argo.domain.errors import ConfigurationError


class EnvironmentSigner:
    """domain.ports.NoticeSigner over the keys of the environments that send notices."""

    def __init__(self, accounts: Mapping[str, LocalAccount]) -> None:
        self._accounts = dict(accounts)

    def __repr__(self) -> str:
        return f"EnvironmentSigner(environments={sorted(self._accounts)})"

    @classmethod
    def for_environments(
        cls, environments: Iterable[Environment], environ: Mapping[str, str]
    ) -> EnvironmentSigner:
        """A signer for `environments`; ConfigurationError for one whose key the operator
        cannot read (a key only in a Kubernetes Secret signs downloads, not notices)."""
        accounts: dict[str, LocalAccount] = {}
        for environment in environments:
            key = load_private_key(environment.key, environ)
            if key is None:
                raise ConfigurationError(
                    f"environment {environment.id} sends notices, which are signed with its "
                    "key: give the operator the key too (keyFile or keyEnv)"
                )
            accounts[environment.id] = Account.from_key(key)
        return cls(accounts)

    def address(self, environment: str) -> str:
        """The checksummed address whose key signs `environment`'s notices."""
        return str(self._accounts[environment].address)

    def sign(self, environment: str, body: bytes) -> str:
        signed = self._accounts[environment].sign_message(encode_defunct(primitive=keccak(body)))
        return "0x" + bytes(signed.signature).hex()
