"""The contract's error messages (CONTRACT.md section 1), byte-exact: clients match on them.

They live beside the error tree so that each text has one home, whichever layer raises it.
"""

from __future__ import annotations

PAYLOAD_EMPTY = "payload seems empty."
ENVIRONMENT_INVALID = "Environment invalid or does not exist"
AGREEMENT_IN_USE = "`agreementId` already in use for other job."
MULTIPLE_STAGES = "Multiple stages are not supported yet"
FILTER_REQUIRED = "You have to specify one of agreementId, jobId or owner"
ADMIN_HEADER_EMPTY = "Admin header is empty."
ADMIN_NOT_ALLOWED = "Access admin route failed due to invalid admin address."
NONCE_REFUSED = "Invalid nonce: already used or too old"


def required_key(key: str) -> str:
    """A required key of POST /compute is absent (the first one, in contract order)."""
    return f'"{key}" is required in the call to POST:/compute'


def missing_in_stage(key: str) -> str:
    """The one stage of a POST /compute workflow lacks `key`."""
    return f"Missing {key} in stage 0"


def no_such_index(index: int) -> str:
    """getResult asked for a result index the job does not have."""
    return f"No such index {index} in this compute job"
