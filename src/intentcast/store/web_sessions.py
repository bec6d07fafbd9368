"""The queries that decide whether a web session still stands: the token it was opened
with (not revoked), or the passkey it was opened with (not removed, its buyer not erased);
and whether an account may still sign in at all."""

from __future__ import annotations

import asyncpg

from intentcast.store.accounts import Principal, principal_of


class WebSessions:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def by_token(self, role: str, subject_id: str, token_id: str) -> Principal | None:
        """The principal of a live full token of this account and role; ``None`` once revoked
        or expired (a scoped token never opens a web session)."""
        row = await self.conn.fetchrow(
            """SELECT t.id, t.role, t.subject_id, t.scopes, t.expires_at, v.status
                 FROM tokens t LEFT JOIN vendors v ON t.role = 'vendor' AND v.id = t.subject_id
                WHERE t.id = $1 AND t.role = $2 AND t.subject_id = $3
                  AND t.revoked_at IS NULL AND t.scopes IS NULL
                  AND (t.expires_at IS NULL OR t.expires_at > now())""",
            token_id,
            role,
            subject_id,
        )
        return None if row is None else principal_of(row)

    async def passkey_stands(self, buyer_id: str, passkey_id: str) -> bool:
        """Whether the buyer (not erased) still has this passkey."""
        return bool(
            await self.conn.fetchval(
                """SELECT true FROM passkeys p JOIN buyers b ON b.id = p.buyer_id
                    WHERE p.id = $1 AND p.buyer_id = $2 AND b.erased_at IS NULL""",
                passkey_id,
                buyer_id,
            )
        )

    async def account_stands(self, role: str, subject_id: str) -> bool:
        """Whether the account exists and may still sign in (a buyer not erased)."""
        if role == "buyer":
            query = "SELECT true FROM buyers WHERE id = $1 AND erased_at IS NULL"
        elif role == "operator":
            query = "SELECT true FROM operators WHERE id = $1"
        else:
            return False
        return bool(await self.conn.fetchval(query, subject_id))
