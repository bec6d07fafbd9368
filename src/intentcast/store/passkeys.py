"""The repository of buyers' passkeys (WebAuthn credentials): the public key and counter
each sign-in is checked against, and what the account page lists (label, created, last
used). Ceremony rules live in ``services.passkeys``."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec


class PasskeyRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    buyer_id: str
    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: list[str]
    user_handle: bytes
    label: str
    backed_up: bool
    created_at: datetime
    last_used_at: datetime | None


def _row(record: asyncpg.Record) -> PasskeyRow:
    return PasskeyRow(**{**dict(record), "transports": list(record["transports"])})


class Passkeys:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(
        self,
        passkey_id: str,
        *,
        buyer_id: str,
        credential_id: bytes,
        public_key: bytes,
        sign_count: int,
        transports: list[str],
        user_handle: bytes,
        label: str,
        backed_up: bool,
    ) -> PasskeyRow | None:
        """The new row; ``None`` when the credential is already registered (to anyone)."""
        record = await self.conn.fetchrow(
            """INSERT INTO passkeys (id, buyer_id, credential_id, public_key, sign_count,
                                     transports, user_handle, label, backed_up)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
               ON CONFLICT (credential_id) DO NOTHING
               RETURNING *""",
            passkey_id,
            buyer_id,
            credential_id,
            public_key,
            sign_count,
            transports,
            user_handle,
            label,
            backed_up,
        )
        return None if record is None else _row(record)

    async def by_credential(self, credential_id: bytes) -> PasskeyRow | None:
        record = await self.conn.fetchrow(
            "SELECT * FROM passkeys WHERE credential_id = $1", credential_id
        )
        return None if record is None else _row(record)

    async def of_buyer(self, buyer_id: str) -> list[PasskeyRow]:
        """Oldest first."""
        records = await self.conn.fetch(
            "SELECT * FROM passkeys WHERE buyer_id = $1 ORDER BY created_at, id", buyer_id
        )
        return [_row(r) for r in records]

    async def user_handle(self, buyer_id: str) -> bytes | None:
        """The WebAuthn user handle the buyer's passkeys share, if it has any."""
        value = await self.conn.fetchval(
            "SELECT user_handle FROM passkeys WHERE buyer_id = $1 ORDER BY created_at LIMIT 1",
            buyer_id,
        )
        return None if value is None else bytes(value)

    async def record_use(self, passkey_id: str, *, old_count: int, new_count: int) -> bool:
        """Store the authenticator's new counter, only if no other sign-in stored one since
        ``old_count`` was read (two sign-ins racing with one counter value: one wins)."""
        status = await self.conn.execute(
            """UPDATE passkeys SET sign_count = $3, last_used_at = now()
                WHERE id = $1 AND sign_count = $2""",
            passkey_id,
            old_count,
            new_count,
        )
        return status == "UPDATE 1"

    async def lock_owner(self, buyer_id: str) -> None:
        """Hold the buyer's row until the transaction ends: one change to its set of
        passkeys at a time (the per-account limit, never removing the last one)."""
        await self.conn.execute("SELECT 1 FROM buyers WHERE id = $1 FOR UPDATE", buyer_id)

    async def count(self, buyer_id: str) -> int:
        return int(
            await self.conn.fetchval("SELECT count(*) FROM passkeys WHERE buyer_id = $1", buyer_id)
        )

    async def remove(self, buyer_id: str, passkey_id: str) -> bool:
        status = await self.conn.execute(
            "DELETE FROM passkeys WHERE id = $1 AND buyer_id = $2", passkey_id, buyer_id
        )
        return status == "DELETE 1"

    async def remove_all(self, buyer_id: str) -> int:
        """Every passkey of the buyer (erasure)."""
        status = await self.conn.execute("DELETE FROM passkeys WHERE buyer_id = $1", buyer_id)
        return int(status.split()[-1])
