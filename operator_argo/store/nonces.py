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


async def claim_nonce(conn: Connection, signer: str, nonce: int, window: int) -> bool:
    """Record (lowercased signer, nonce); False if seen before, or, when `window` > 0, if the nonce
    is more than `window` below the signer's highest."""
    params = {"signer": signer.lower(), "nonce": Decimal(nonce), "window": Decimal(window)}
    cur = await conn.execute(_CLAIM, params)
    return await cur.fetchone() is not None


# Nonces more than `window` below their signer's highest: the claim refuses them anyway, so their
# rows can go. The highest of each signer always stays, so the window keeps its reference point.
# Deleted in bounded batches so a large backlog never holds long locks.
_PRUNE = """
DELETE FROM nonces
WHERE ctid IN (
    SELECT n.ctid
    FROM nonces n
    JOIN (SELECT signer, max(nonce) AS highest FROM nonces GROUP BY signer) h USING (signer)
    WHERE n.nonce < h.highest - %(window)s::numeric
    LIMIT %(limit)s
)
"""


async def prune_nonces(conn: Connection, window: int, limit: int) -> int:
    """Delete up to `limit` nonces that the window already refuses; how many were deleted."""
    cur = await conn.execute(_PRUNE, {"window": Decimal(window), "limit": limit})
    return cur.rowcount
