"""The kinds of request value: nonces as exact integers, signatures as 65 bytes."""

from __future__ import annotations

import pytest

from operator_argo.domain.errors import InvalidRequest
from operator_argo.wire.values import decode_signature, parse_nonce

NONCE = 1700000000123456789


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (NONCE, NONCE),
        (str(NONCE), NONCE),
        (" 1700000000123456789 ", NONCE),
        ("0", 0),
        (0, 0),
        ("9" * 78, int("9" * 78)),
        ("000123", 123),
        (2**70, 2**70),
    ],
)
def test_nonce_parses_to_an_exact_integer(value: object, expected: int) -> None:
    parsed = parse_nonce(value)
    assert parsed == expected
    assert type(parsed) is int


@pytest.mark.parametrize(
    "value",
    [
        -1,
        "-1",
        1.7e18,
        "1.7e18",
        "1700000000123456789.0",
        True,
        "",
        "abc",
        "12a",
        "١٢٣",  # non-ASCII digits
        "9" * 79,
        10**78,
        None,
        [1],
        {"n": 1},
    ],
)
def test_bad_nonces_are_bad_requests(value: object) -> None:
    with pytest.raises(InvalidRequest):
        parse_nonce(value)


def test_a_signature_decodes_with_v_normalised() -> None:
    assert decode_signature("11" * 64 + "1b")[64] == 0
    assert decode_signature("11" * 64 + "1c")[64] == 1
    assert decode_signature("0x" + "11" * 64 + "01")[64] == 1
