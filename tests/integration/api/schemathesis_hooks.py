"""schemathesis hooks for the run over /spec (loaded through SCHEMATHESIS_HOOKS).

Two rules have no schema form, and the document states them in words: an agreementId already
used by an unfinished job is a 400 with the original's message, and so is a validUntil that is
not in the future (preflight: it depends on the clock). The built-in "schema-valid data is
accepted" check is run with exactly those answers let through; every other refusal of valid
data still fails the run.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

from operator_argo.domain.messages import AGREEMENT_IN_USE
from operator_argo.wire.preflight import VALID_UNTIL_PAST

IN_WORDS = ({"error": AGREEMENT_IN_USE}, {"error": VALID_UNTIL_PAST})


@schemathesis.check
def valid_data_is_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code == 400 and response.json() in IN_WORDS:
        return None
    result: bool | None = positive_data_acceptance(ctx, response, case)
    return result
