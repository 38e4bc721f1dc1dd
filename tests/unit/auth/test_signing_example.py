"""The worked signing example in the README is right: its signatures recover its address."""

from __future__ import annotations

import re
from pathlib import Path

from operator_argo.auth.signatures import recover_signer, sign_text

README = (Path(__file__).resolve().parents[3] / "README.md").read_text()


def example_value(name: str) -> list[str]:
    return re.findall(rf"^{re.escape(name)} +(\S+)", README, re.MULTILINE)


def test_the_worked_example_signs_and_recovers_as_documented() -> None:
    (key,), (address,) = example_value("key"), example_value("address")
    (owner,), (nonce,), (job_id,) = (
        example_value("owner"),
        example_value("nonce"),
        example_value("jobId"),
    )
    messages = example_value("POST /compute message") + example_value("GET /compute message")
    assert messages == [owner + nonce, owner + job_id + nonce]
    signatures = example_value("providerSignature")
    assert len(signatures) == 2
    for message, signature in zip(messages, signatures, strict=True):
        assert sign_text(message, key) == signature
        assert recover_signer(message, signature) == address.lower()
