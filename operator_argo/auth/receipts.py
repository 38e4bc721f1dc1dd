"""Signing and verifying job receipts (domain/receipt.py says what a receipt states).

A receipt file is `{"receipt": {...}, "signer": "0x...", "signature": "0x..."}`; the signature is
the environment key's, over keccak256(canonical_bytes(receipt)) with EIP-191, the scheme of the
notices (auth/notices.py). Verifying recovers the address from the signature and compares it with
the address the verifier trusts (the environment's `consumerAddress`), then, for each downloaded
file it is given, its size and sha256 with what the receipt states.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError as MalformedSignature

from operator_argo.auth.notices import EnvironmentSigner
from operator_argo.domain.receipt import canonical_bytes, sha256_file


def signed_receipt(
    receipt: Mapping[str, Any], signer: EnvironmentSigner, environment: str
) -> bytes:
    """The bytes of `receipt.json`: the receipt, its signer's address and signature."""
    document = {
        "receipt": receipt,
        "signer": signer.address(environment),
        "signature": signer.sign(environment, canonical_bytes(receipt)),
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).encode() + b"\n"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Verdict:
    """What `verify_receipt` found: the address that signed, and every problem (none: valid)."""

    signer: str | None
    problems: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return not self.problems


def _recovered(document: Mapping[str, Any]) -> str:
    receipt = document["receipt"]
    if not isinstance(receipt, Mapping):
        raise ValueError("its receipt is not an object")
    message = encode_defunct(primitive=keccak(canonical_bytes(receipt)))
    return str(Account.recover_message(message, signature=str(document["signature"])))


def _check_file(path: Path, stated: Mapping[str, Mapping[str, Any]]) -> str | None:
    entry = stated.get(path.name)
    if entry is None:
        return f"{path.name}: the receipt names no result of that name"
    size = path.stat().st_size
    if size != entry.get("filesize"):
        return f"{path.name}: {size} bytes, the receipt states {entry.get('filesize')}"
    if sha256_file(path) != entry.get("sha256"):
        return f"{path.name}: its sha256 is not the one the receipt states"
    return None


def verify_receipt(
    document: Mapping[str, Any], *, address: str | None = None, files: Iterable[Path] = ()
) -> Verdict:
    """Check a parsed receipt file: its signature (by `address`, when given; else by the
    environment address it states), then each of `files` against the sizes and hashes stated."""
    try:
        signer = _recovered(document)
    except (KeyError, TypeError, ValueError, BadSignature, MalformedSignature) as exc:
        return Verdict(signer=None, problems=(f"the signature cannot be read: {exc}",))
    receipt = document["receipt"]
    problems: list[str] = []
    stated_address = str((receipt.get("environment") or {}).get("consumerAddress") or "")
    expected = address or stated_address
    if signer.lower() != expected.lower():
        whose = "the address given" if address else "the environment address it states"
        problems.append(f"signed by {signer}, not by {whose} ({expected or 'none'})")
    stated = {
        str(item.get("filename")): item
        for item in receipt.get("results") or ()
        if isinstance(item, Mapping)
    }
    for path in files:
        problem = _check_file(path, stated)
        if problem is not None:
            problems.append(problem)
    return Verdict(signer=signer, problems=tuple(problems))
