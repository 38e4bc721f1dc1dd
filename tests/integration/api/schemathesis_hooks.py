"""schemathesis hooks for the run over /spec (loaded through SCHEMATHESIS_HOOKS).

One contract rule has no schema form: an agreementId already used by an unfinished job is a
400 with the original's message. The built-in "schema-valid data is accepted" check is run
with exactly that answer let through; every other refusal of valid data still fails the run.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

from operator_argo.domain.messages import AGREEMENT_IN_USE


@schemathesis.check
def valid_data_is_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code == 400 and response.json() == {"error": AGREEMENT_IN_USE}:
        return None
    result: bool | None = positive_data_acceptance(ctx, response, case)
    return result
