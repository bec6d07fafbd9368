"""Passkey ceremonies for buyers (WebAuthn, with the ``webauthn`` package): sign-up with a
passkey (an account with no e-mail and no password), sign-in with one (discoverable
credentials: the browser offers the buyer's passkeys, no name is typed), and adding and
removing passkeys on a signed-in account.

**A ceremony** is two requests: ``begin_*`` makes the options (a fresh random challenge)
the browser hands to ``navigator.credentials``, and remembers them server-side in Redis
(``Ceremonies``) for ``CEREMONY_TTL_S`` under a random id the caller keeps in the browser's
session; ``finish_*`` takes them back — at most once (``GETDEL``), so a challenge is never
accepted twice — and verifies the authenticator's answer against them: the challenge, the
origin, the relying party id, user presence and verification, the signature and the
counter.

**The relying party** (``RelyingParty``) is the site the passkeys belong to: its id is a
host name and its origin what the browser shows. It comes from ``INTENTCAST_PUBLIC_URL``
when set (a server behind a proxy or TLS terminator must set it), else from the address
the request was sent to. A passkey cannot belong to an IP address, so a site opened as
``http://127.0.0.1:8000`` offers none (``http://localhost:8000`` does).

Refusals are domain errors with stable codes: ``passkey-ceremony-expired`` (409: the
ceremony is unknown, expired, already used or of another kind), ``passkey-refused`` (403:
the answer does not verify, or the passkey is not registered), ``passkeys-unavailable``
(403: this address cannot have passkeys), ``passkey-exists`` (409), ``too-many-passkeys``
and ``last-passkey`` (409), and ``RuleViolation`` naming the field of a malformed answer.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from typing import Any, Literal
from urllib.parse import urlsplit

import asyncpg
import msgspec
import redis.asyncio as redis
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import options_to_json_dict, parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from intentcast.domain.errors import (
    AlreadyExists,
    NotFound,
    QuotaExceeded,
    Refused,
    RuleViolation,
    StateConflict,
)
from intentcast.security import Keys, new_id
from intentcast.services import accounts
from intentcast.services.web_sessions import PASSKEY_TOKEN_ID
from intentcast.store.accounts import BuyerRow, Principal
from intentcast.store.passkeys import PasskeyRow, Passkeys
from intentcast.store.web_sessions import WebSessions

__all__ = [
    "CEREMONY_TTL_S",
    "MAX_PASSKEYS",
    "Ceremonies",
    "Ceremony",
    "RelyingParty",
    "begin_adding",
    "begin_signin",
    "begin_signup",
    "buyer_passkeys",
    "finish_adding",
    "finish_signin",
    "finish_signup",
    "relying_party",
    "remove_passkey",
]

RP_NAME = "intentcast"
CEREMONY_TTL_S = 300
"""How long a ceremony's challenge is accepted (the browser is told a little less)."""
BROWSER_TIMEOUT_MS = 240_000
MAX_PASSKEYS = 20
"""Passkeys one buyer may register."""
CEREMONY_KEY_PREFIX = "ic:passkey:ceremony:"
USER_HANDLE_BYTES = 32

Purpose = Literal["signup", "signin", "add"]

_VERIFY_FAILURES = (WebAuthnException, ValueError, TypeError, KeyError, AttributeError)
"""What the ``webauthn`` package raises on an answer it cannot parse or verify (its own
exceptions, and a few built-in ones for input that is not the shape it expects)."""


class RelyingParty(msgspec.Struct, frozen=True):
    """The site passkeys are bound to: ``rp_id`` a host name, ``origin`` scheme://host[:port]."""

    rp_id: str
    origin: str


def relying_party(public_url: str | None, request_origin: str) -> RelyingParty:
    """From ``INTENTCAST_PUBLIC_URL`` when set, else from the origin the request was sent to;
    ``passkeys-unavailable`` for an address a passkey cannot belong to (an IP address)."""
    parts = urlsplit(public_url or request_origin)
    host = (parts.hostname or "").lower()
    if not host or parts.scheme not in ("http", "https"):
        raise Refused("Passkeys need this site to have an http(s) address.", "passkeys-unavailable")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise Refused(
            "Passkeys need this site to be opened by its name (for example "
            "http://localhost:8000), not by an IP address. You can sign in with your API "
            "token instead.",
            "passkeys-unavailable",
        )
    return RelyingParty(rp_id=host, origin=f"{parts.scheme}://{parts.netloc.lower()}")


class Ceremony(msgspec.Struct, frozen=True, kw_only=True):
    """What ``begin_*`` promised the browser, kept until ``finish_*`` (bytes travel as base64)."""

    purpose: Purpose
    challenge: bytes
    rp: RelyingParty
    buyer_id: str | None = None
    """``add``: the account the passkey is for."""
    display_name: str | None = None
    """``signup``: the new account's display name."""
    label: str | None = None
    """``signup`` and ``add``: the name the buyer gave the passkey."""
    user_handle: bytes | None = None
    """``signup`` and ``add``: the WebAuthn user handle the new passkey is made for."""


class Ceremonies:
    """Pending ceremonies in Redis: each readable once, gone after ``CEREMONY_TTL_S``."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    async def begin(self, ceremony: Ceremony) -> str:
        ceremony_id = secrets.token_urlsafe(24)
        await self.client.set(
            CEREMONY_KEY_PREFIX + ceremony_id, msgspec.json.encode(ceremony), ex=CEREMONY_TTL_S
        )
        return ceremony_id

    async def take(self, ceremony_id: str | None, purpose: Purpose) -> Ceremony:
        """The ceremony, removed (a second ``take`` finds nothing); else
        ``passkey-ceremony-expired``."""
        raw = None
        if ceremony_id:
            raw = await self.client.getdel(CEREMONY_KEY_PREFIX + ceremony_id)
        ceremony = None if raw is None else msgspec.json.decode(raw, type=Ceremony)
        if ceremony is None or ceremony.purpose != purpose:
            raise StateConflict(
                "This passkey request has expired or was already used; please start again.",
                "passkey-ceremony-expired",
            )
        return ceremony


def _selection() -> AuthenticatorSelectionCriteria:
    """A discoverable credential (sign-in without typing a name), unlocked by the user."""
    return AuthenticatorSelectionCriteria(
        resident_key=ResidentKeyRequirement.REQUIRED,
        user_verification=UserVerificationRequirement.REQUIRED,
    )


def _descriptor(row: PasskeyRow) -> PublicKeyCredentialDescriptor:
    transports = [AuthenticatorTransport(t) for t in row.transports if _known_transport(t)]
    return PublicKeyCredentialDescriptor(id=row.credential_id, transports=transports or None)


def _known_transport(value: str) -> bool:
    return value in AuthenticatorTransport._value2member_map_


def _registration_options(
    rp: RelyingParty,
    *,
    user_name: str,
    user_handle: bytes,
    exclude: list[PasskeyRow],
) -> tuple[bytes, dict[str, Any]]:
    options = generate_registration_options(
        rp_id=rp.rp_id,
        rp_name=RP_NAME,
        user_name=user_name,
        user_id=user_handle,
        user_display_name=user_name,
        timeout=BROWSER_TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=_selection(),
        exclude_credentials=[_descriptor(r) for r in exclude],
    )
    return options.challenge, options_to_json_dict(options)


def _verified_registration(ceremony: Ceremony, credential: dict[str, Any]) -> Any:
    try:
        return verify_registration_response(
            credential=credential,
            expected_challenge=ceremony.challenge,
            expected_rp_id=ceremony.rp.rp_id,
            expected_origin=ceremony.rp.origin,
            require_user_verification=True,
        )
    except _VERIFY_FAILURES as exc:
        raise Refused(f"The new passkey could not be verified: {exc}", "passkey-refused") from None


def _transports(credential: dict[str, Any]) -> list[str]:
    response = credential.get("response")
    values = response.get("transports") if isinstance(response, dict) else None
    if not isinstance(values, list):
        return []
    return sorted({v for v in values if isinstance(v, str) and _known_transport(v)})


def _label(label: str | None, default: str) -> str:
    return (label or "").strip() or default


async def _store(
    conn: asyncpg.Connection,
    *,
    buyer_id: str,
    ceremony: Ceremony,
    credential: dict[str, Any],
    verified: Any,
    default_label: str,
) -> PasskeyRow:
    if ceremony.user_handle is None:
        raise StateConflict("This passkey request is incomplete.", "passkey-ceremony-expired")
    row = await Passkeys(conn).add(
        new_id("pk"),
        buyer_id=buyer_id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=_transports(credential),
        user_handle=ceremony.user_handle,
        label=_label(ceremony.label, default_label),
        backed_up=bool(verified.credential_backed_up),
    )
    if row is None:
        raise AlreadyExists("This passkey is already registered.", "passkey-exists")
    return row


async def begin_signup(
    ceremonies: Ceremonies, rp: RelyingParty, *, display_name: str, label: str | None
) -> tuple[str, dict[str, Any]]:
    """Options to create the passkey of a new account (which exists once ``finish_signup``
    verified it); the ceremony's id and the options for ``navigator.credentials.create``."""
    user_handle = os.urandom(USER_HANDLE_BYTES)
    challenge, options = _registration_options(
        rp, user_name=display_name, user_handle=user_handle, exclude=[]
    )
    ceremony_id = await ceremonies.begin(
        Ceremony(
            purpose="signup",
            challenge=challenge,
            rp=rp,
            display_name=display_name,
            label=label,
            user_handle=user_handle,
        )
    )
    return ceremony_id, options


async def finish_signup(
    conn: asyncpg.Connection,
    keys: Keys,
    ceremonies: Ceremonies,
    *,
    ceremony_id: str | None,
    credential: dict[str, Any],
) -> tuple[BuyerRow, str, PasskeyRow]:
    """The new buyer (no persona: no e-mail, no name), its API token (shown once, for
    programs and as a fallback sign-in) and its passkey — all or nothing."""
    ceremony = await ceremonies.take(ceremony_id, "signup")
    verified = _verified_registration(ceremony, credential)
    async with conn.transaction():
        buyer, token = await accounts.create_buyer(
            conn, keys, display_name=ceremony.display_name or "buyer", country=None, persona={}
        )
        passkey = await _store(
            conn,
            buyer_id=buyer.id,
            ceremony=ceremony,
            credential=credential,
            verified=verified,
            default_label="First passkey",
        )
    return buyer, token, passkey


async def begin_adding(
    conn: asyncpg.Connection,
    ceremonies: Ceremonies,
    rp: RelyingParty,
    *,
    buyer_id: str,
    label: str | None,
) -> tuple[str, dict[str, Any]]:
    """Options for another passkey on a signed-in buyer's account; the authenticator is
    told which passkeys the account has already (it refuses to make a second one)."""
    buyer = await accounts.buyer_account(conn, buyer_id)
    existing = await Passkeys(conn).of_buyer(buyer_id)
    if len(existing) >= MAX_PASSKEYS:
        raise QuotaExceeded(
            f"An account has at most {MAX_PASSKEYS} passkeys; remove one first.",
            "too-many-passkeys",
            limit=MAX_PASSKEYS,
        )
    user_handle = existing[0].user_handle if existing else os.urandom(USER_HANDLE_BYTES)
    challenge, options = _registration_options(
        rp, user_name=buyer.display_name, user_handle=user_handle, exclude=existing
    )
    ceremony_id = await ceremonies.begin(
        Ceremony(
            purpose="add",
            challenge=challenge,
            rp=rp,
            buyer_id=buyer_id,
            label=label,
            user_handle=user_handle,
        )
    )
    return ceremony_id, options


async def finish_adding(
    conn: asyncpg.Connection,
    ceremonies: Ceremonies,
    *,
    buyer_id: str,
    ceremony_id: str | None,
    credential: dict[str, Any],
) -> PasskeyRow:
    ceremony = await ceremonies.take(ceremony_id, "add")
    if ceremony.buyer_id != buyer_id:
        raise StateConflict(
            "This passkey request was started for another account; please start again.",
            "passkey-ceremony-expired",
        )
    verified = _verified_registration(ceremony, credential)
    async with conn.transaction():
        await Passkeys(conn).lock_owner(buyer_id)
        count = await Passkeys(conn).count(buyer_id)
        if count >= MAX_PASSKEYS:
            raise QuotaExceeded(
                f"An account has at most {MAX_PASSKEYS} passkeys; remove one first.",
                "too-many-passkeys",
                limit=MAX_PASSKEYS,
            )
        return await _store(
            conn,
            buyer_id=buyer_id,
            ceremony=ceremony,
            credential=credential,
            verified=verified,
            default_label=f"Passkey {count + 1}",
        )


async def begin_signin(ceremonies: Ceremonies, rp: RelyingParty) -> tuple[str, dict[str, Any]]:
    """Options for ``navigator.credentials.get`` with no list of credentials: the browser
    offers whichever passkeys it holds for this site."""
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        timeout=BROWSER_TIMEOUT_MS,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    ceremony_id = await ceremonies.begin(
        Ceremony(purpose="signin", challenge=options.challenge, rp=rp)
    )
    return ceremony_id, options_to_json_dict(options)


def _refused_signin(reason: str) -> Refused:
    return Refused(f"That passkey did not sign you in: {reason}", "passkey-refused")


def _parsed_assertion(credential: dict[str, Any]) -> AuthenticationCredential:
    try:
        return parse_authentication_credential_json(credential)
    except _VERIFY_FAILURES as exc:
        raise RuleViolation("credential", f"is not a passkey answer ({exc})") from None


async def finish_signin(
    conn: asyncpg.Connection,
    ceremonies: Ceremonies,
    *,
    ceremony_id: str | None,
    credential: dict[str, Any],
) -> tuple[Principal, str]:
    """The buyer whose passkey signed the challenge, and the passkey's id (a session
    opened with it ends when it is removed). The authenticator's counter must
    have moved on since the last sign-in (unless it keeps none: synced passkeys report 0),
    else the passkey may have been cloned and the sign-in is refused."""
    ceremony = await ceremonies.take(ceremony_id, "signin")
    answer = _parsed_assertion(credential)
    passkeys = Passkeys(conn)
    row = await passkeys.by_credential(answer.raw_id)
    if row is None:
        raise _refused_signin("it is not registered here (it may have been removed).")
    user_handle = answer.response.user_handle
    if user_handle is not None and user_handle != row.user_handle:
        raise _refused_signin("it belongs to another account.")
    try:
        verified = verify_authentication_response(
            credential=answer,
            expected_challenge=ceremony.challenge,
            expected_rp_id=ceremony.rp.rp_id,
            expected_origin=ceremony.rp.origin,
            credential_public_key=row.public_key,
            credential_current_sign_count=row.sign_count,
            require_user_verification=True,
        )
    except _VERIFY_FAILURES as exc:
        raise _refused_signin(f"{exc}.") from None
    if not await WebSessions(conn).account_stands("buyer", row.buyer_id):
        raise _refused_signin("its account no longer exists.")
    if not await passkeys.record_use(
        row.id, old_count=row.sign_count, new_count=verified.new_sign_count
    ):
        raise _refused_signin("it was used by another sign-in at the same moment.")
    return Principal(role="buyer", subject_id=row.buyer_id, token_id=PASSKEY_TOKEN_ID), row.id


async def buyer_passkeys(conn: asyncpg.Connection, buyer_id: str) -> list[PasskeyRow]:
    return await Passkeys(conn).of_buyer(buyer_id)


async def remove_passkey(
    conn: asyncpg.Connection, *, buyer_id: str, passkey_id: str, signed_in_with_token: bool
) -> PasskeyRow:
    """Removes one of the buyer's passkeys (``NotFound`` if it has no such passkey). The
    last one goes only in a session opened with the API token: whoever holds nothing but
    the passkey would otherwise lock themselves out."""
    async with conn.transaction():
        await Passkeys(conn).lock_owner(buyer_id)
        passkeys = Passkeys(conn)
        rows = await passkeys.of_buyer(buyer_id)
        row = next((r for r in rows if r.id == passkey_id), None)
        if row is None:
            raise NotFound("passkey")
        if len(rows) == 1 and not signed_in_with_token:
            raise QuotaExceeded(
                "This is your only passkey: add another first, or sign in with your API "
                "token to remove it.",
                "last-passkey",
            )
        await passkeys.remove(buyer_id, passkey_id)
    return row
