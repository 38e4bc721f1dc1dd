"""The environment signer: signs notices and job receipts with the environment's own key.

The scheme is the one the configure step uses for provider downloads (CONTRACT §5): the
signature is EIP-191 over the keccak256 of the message, `sign_message(encode_defunct(
primitive=keccak(message)), key)`, sent as 65-byte hex r||s||v. A notice's message is the exact
body bytes POSTed; a receipt's, the canonical bytes of its `receipt` member (domain/receipt.py).
A receiver recovers the address from keccak256(message) and compares it with the environment's
`consumerAddress` (GET /environments), which a notice also names in a header.
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
    """domain.ports.NoticeSigner (and the receipts' signer) over environments' own keys."""

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
        wanted = list(environments)
        signer = cls.where_readable(wanted, environ)
        for environment in wanted:
            if not signer.signs_for(environment.id):
                raise ConfigurationError(
                    f"environment {environment.id} sends notices, which are signed with its "
                    "key: give the operator the key too (keyFile or keyEnv)"
                )
        return signer

    @classmethod
    def where_readable(
        cls, environments: Iterable[Environment], environ: Mapping[str, str]
    ) -> EnvironmentSigner:
        """A signer for those of `environments` whose key the operator can read (a key only in
        a Kubernetes Secret is the job pods' alone)."""
        accounts: dict[str, LocalAccount] = {}
        for environment in environments:
            key = load_private_key(environment.key, environ)
            if key is not None:
                accounts[environment.id] = Account.from_key(key)
        return cls(accounts)

    def signs_for(self, environment: str) -> bool:
        """Whether the signer holds `environment`'s key."""
        return environment in self._accounts

    def address(self, environment: str) -> str:
        """The checksummed address whose key signs for `environment`."""
        return str(self._accounts[environment].address)

    def sign(self, environment: str, body: bytes) -> str:
        signed = self._accounts[environment].sign_message(encode_defunct(primitive=keccak(body)))
        return "0x" + bytes(signed.signature).hex()
