"""Provider nonces: each (signer, nonce) pair is accepted once, atomically, as a big integer."""

from __future__ import annotations

from decimal import Decimal

from operator_argo.store.database import Connection

# One statement, so two concurrent claims of one pair cannot both win: the primary key decides.
# The window check reads the signer's highest nonce in the same statement.
_CLAIM = """
INSERT INTO nonces (signer, nonce)
SELECT %(signer)s, %(nonce)s::numeric
WHERE %(window)s::numeric = 0
   OR %(nonce)s::numeric >= COALESCE(
        (SELECT max(nonce) FROM nonces WHERE signer = %(signer)s), 0
      ) - %(window)s::numeric
ON CONFLICT (signer, nonce) DO NOTHING
RETURNING 1 AS claimed
"""


# The same claim as a CTE named `claimed` (one row when accepted, none when refused), for a
# signed call's own statement to carry: the claim and the call's query are one round trip, and
# a statement is atomic, so what the call writes is conditioned on the claim (store/jobs.py).
CLAIMED_CTE = "claimed AS (" + _CLAIM + ")"
# The column a carrying statement adds to every row it returns: 1 when the nonce was accepted.
CLAIMED_COLUMN = "nonce_claimed"


def claim_params(signer: str, nonce: int, window: int) -> dict[str, Decimal | str]:
    """The parameters of _CLAIM and CLAIMED_CTE."""
    return {"signer": signer.lower(), "nonce": Decimal(nonce), "window": Decimal(window)}


async def claim_nonce(conn: Connection, signer: str, nonce: int, window: int) -> bool:
    """Record (lowercased signer, nonce); False if seen before, or, when `window` > 0, if the nonce
    is more than `window` below the signer's highest."""
    cur = await conn.execute(_CLAIM, claim_params(signer, nonce, window))
    return await cur.fetchone() is not None


# Each signer's highest nonce, found through the primary key's index (one descent per signer, a
# "skip scan"), so it stays cheap however many nonces the table holds.
_HIGHEST_PER_SIGNER = """
WITH RECURSIVE signers AS (
    (SELECT signer FROM nonces ORDER BY signer LIMIT 1)
    UNION ALL
    SELECT (SELECT n.signer FROM nonces n WHERE n.signer > s.signer ORDER BY n.signer LIMIT 1)
    FROM signers s
    WHERE s.signer IS NOT NULL
)
SELECT signer, (SELECT max(nonce) FROM nonces n WHERE n.signer = signers.signer) AS highest
FROM signers
WHERE signer IS NOT NULL
"""

# Up to `limit` of one signer's nonces below a bound, found through the same index.
_PRUNE = """
DELETE FROM nonces
WHERE ctid IN (
    SELECT ctid FROM nonces
    WHERE signer = %(signer)s AND nonce < %(below)s
    LIMIT %(limit)s
)
"""


async def highest_per_signer(conn: Connection) -> dict[str, Decimal]:
    """Every signer's highest nonce."""
    cur = await conn.execute(_HIGHEST_PER_SIGNER)
    return {row["signer"]: row["highest"] for row in await cur.fetchall()}


async def prune_below(conn: Connection, signer: str, below: Decimal, limit: int) -> int:
    """Delete up to `limit` of `signer`'s nonces below `below`; how many were deleted."""
    cur = await conn.execute(_PRUNE, {"signer": signer, "below": below, "limit": limit})
    return cur.rowcount
