"""Repository for Idempotency-Key records: a claimed key, then the sealed response."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import msgspec

KEY_TTL = timedelta(hours=24)
CLAIM_TIMEOUT = timedelta(seconds=60)


class StoredKey(msgspec.Struct, frozen=True):
    fingerprint: bytes
    status_code: int | None
    response: bytes | None
    stale_claim: bool


class IdempotencyKeys:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def claim(self, scope: str, key: str, fingerprint: bytes) -> StoredKey | None:
        """Claim ``key`` for a new request; if already known, return what is stored."""
        # an expired record is forgotten first, so the key can be used again
        await self.conn.execute(
            """DELETE FROM idempotency_keys
                WHERE scope = $1 AND key = $2 AND created_at < now() - $3::interval""",
            scope,
            key,
            KEY_TTL,
        )
        inserted = await self.conn.fetchval(
            """INSERT INTO idempotency_keys (scope, key, fingerprint) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING RETURNING true""",
            scope,
            key,
            fingerprint,
        )
        if inserted:
            return None
        row = await self.conn.fetchrow(
            """SELECT fingerprint, status_code, response,
                      (status_code IS NULL AND created_at < now() - $3::interval) AS stale
                 FROM idempotency_keys WHERE scope = $1 AND key = $2""",
            scope,
            key,
            CLAIM_TIMEOUT,
        )
        if row is None:  # released concurrently; claim again
            return await self.claim(scope, key, fingerprint)
        return StoredKey(
            fingerprint=bytes(row["fingerprint"]),
            status_code=row["status_code"],
            response=None if row["response"] is None else bytes(row["response"]),
            stale_claim=row["stale"],
        )

    async def retake(self, scope: str, key: str) -> None:
        await self.conn.execute(
            "UPDATE idempotency_keys SET created_at = now() WHERE scope = $1 AND key = $2",
            scope,
            key,
        )

    async def complete(self, scope: str, key: str, status_code: int, response: bytes) -> None:
        await self.conn.execute(
            """UPDATE idempotency_keys SET status_code = $3, response = $4
                WHERE scope = $1 AND key = $2""",
            scope,
            key,
            status_code,
            response,
        )

    async def release(self, scope: str, key: str) -> None:
        await self.conn.execute(
            "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2", scope, key
        )

    async def purge_expired(self) -> int:
        status = await self.conn.execute(
            "DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval", KEY_TTL
        )
        return int(status.split()[-1])
