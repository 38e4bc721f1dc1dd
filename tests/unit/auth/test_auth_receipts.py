"""Receipts: signed over their canonical bytes by the environment's key, checked by anyone."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from eth_account import Account

from operator_argo.auth.notices import EnvironmentSigner
from operator_argo.auth.receipts import signed_receipt, verify_receipt
from operator_argo.domain.environment import Environment, KeySource
from operator_argo.domain.receipt import canonical_bytes

KEY = "0x" + "5d" * 32
ADDRESS = str(Account.from_key(KEY).address)
OUTPUT = b"the answer\n"


def signer() -> EnvironmentSigner:
    environment = Environment(id="cpu", namespace="cpu", key=KeySource(env="CPU_KEY"))
    return EnvironmentSigner.where_readable([environment], {"CPU_KEY": KEY})


def receipt() -> dict[str, Any]:
    return {
        "jobId": "j1",
        "environment": {"id": "cpu", "consumerAddress": ADDRESS},
        "results": [
            {
                "filename": "out.txt",
                "type": "output",
                "filesize": len(OUTPUT),
                "sha256": hashlib.sha256(OUTPUT).hexdigest(),
            }
        ],
    }


def document() -> dict[str, Any]:
    return dict(json.loads(signed_receipt(receipt(), signer(), "cpu")))


def test_canonical_bytes_do_not_depend_on_key_order_or_spacing() -> None:
    assert canonical_bytes({"b": 1, "a": [1, {"d": "é", "c": None}]}) == (
        '{"a":[1,{"c":null,"d":"é"}],"b":1}'.encode()
    )


def test_a_receipt_is_valid_for_its_signer_and_the_files_it_states(tmp_path: Path) -> None:
    (tmp_path / "out.txt").write_bytes(OUTPUT)
    verdict = verify_receipt(document(), address=ADDRESS, files=[tmp_path / "out.txt"])
    assert verdict.valid and verdict.signer == ADDRESS
    assert verify_receipt(document()).valid  # by the address it states


def test_a_changed_member_or_another_address_is_refused() -> None:
    changed = document()
    changed["receipt"]["jobId"] = "j2"
    assert verify_receipt(changed, address=ADDRESS).problems[0].startswith("signed by 0x")
    other = str(Account.create().address)
    assert not verify_receipt(document(), address=other).valid


def test_a_file_of_another_size_content_or_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out.txt").write_bytes(OUTPUT.upper())  # same size, other bytes
    (tmp_path / "extra.txt").write_bytes(b"x")
    verdict = verify_receipt(document(), files=[tmp_path / "out.txt", tmp_path / "extra.txt"])
    assert verdict.problems == (
        "out.txt: its sha256 is not the one the receipt states",
        "extra.txt: the receipt names no result of that name",
    )
    (tmp_path / "out.txt").write_bytes(OUTPUT + b"!")
    assert verify_receipt(document(), files=[tmp_path / "out.txt"]).problems == (
        f"out.txt: {len(OUTPUT) + 1} bytes, the receipt states {len(OUTPUT)}",
    )


def test_a_malformed_signature_is_a_problem_not_an_error() -> None:
    broken = document()
    broken["signature"] = "0x1234"
    verdict = verify_receipt(broken, address=ADDRESS)
    assert verdict.signer is None and verdict.problems[0].startswith("the signature cannot be read")
    assert not verify_receipt({"receipt": "not an object", "signature": "0x"}).valid
