"""Who a web session acts as. A web session (``intentcast.web.session``) keeps on the
server only a reference to how it was opened: the account's role and id, and the id of
the token pasted at sign-in (never the token) or of the passkey signed in with. Each page
asks here again, so a revoked token, a removed passkey, an erased buyer or a deleted
operator is signed out on the next request."""

from __future__ import annotations

import asyncpg

from intentcast.store.accounts import Principal, Tokens
from intentcast.store.web_sessions import WebSessions

PASSKEY_TOKEN_ID = ""
"""``Principal.token_id`` of a session opened with a passkey (no token involved)."""


async def principal_for_token(conn: asyncpg.Connection, token: str) -> Principal | None:
    """The account a pasted token belongs to; ``None`` if unknown, revoked, expired or
    scoped (a scoped token is for an agent: the pages reveal, accept, export and erase)."""
    if len(token) > 200:
        return None
    principal = await Tokens(conn).principal(token)
    return None if principal is None or principal.scopes is not None else principal


async def session_principal(
    conn: asyncpg.Connection,
    *,
    role: str,
    subject_id: str,
    token_id: str | None,
    passkey_id: str | None = None,
) -> Principal | None:
    """The principal a session stands for, or ``None`` when it no longer stands (a session
    opened with neither a token nor a passkey never does)."""
    sessions = WebSessions(conn)
    if token_id:
        return await sessions.by_token(role, subject_id, token_id)
    if passkey_id and role == "buyer" and await sessions.passkey_stands(subject_id, passkey_id):
        return Principal(role=role, subject_id=subject_id, token_id=PASSKEY_TOKEN_ID)
    return None
