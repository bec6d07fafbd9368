"""Passkeys without a browser: real WebAuthn ceremonies against the app, answered by a
software authenticator (``tests/soft_authenticator.py``: an ES256 key, attestation "none",
authenticator data assembled by hand). Sign-up creates a buyer with no e-mail and signs the
browser in; sign-in is usernameless; a wrong origin, RP id or challenge, a replayed answer,
a reused ceremony, a counter that went back or a passkey without user verification is
refused with a 4xx and no session."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
import redis.asyncio as redis
from litestar.testing import AsyncTestClient

from intentcast.domain.errors import StateConflict
from intentcast.services.passkeys import (
    CEREMONY_KEY_PREFIX,
    CEREMONY_TTL_S,
    Ceremonies,
    Ceremony,
    begin_adding,
    finish_adding,
    relying_party,
)
from intentcast.services.passkeys import begin_signin as begin_signin_ceremony
from tests.helpers import create_buyer
from tests.soft_authenticator import FLAG_UP, SoftAuthenticator

ORIGIN = "http://testserver.local"  # the test client's address
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def csrf_header(client: AsyncTestClient[Any], path: str = "/signin") -> dict[str, str]:
    """The page's CSRF token, as the script sends it with a JSON post."""
    page = await client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF_META.search(page.text)
    assert match, "the page carries no csrf-token meta"
    return {"x-csrftoken": match.group(1)}


async def signed_in_as_buyer(client: AsyncTestClient[Any]) -> bool:
    home = await client.get("/", follow_redirects=False)
    return home.status_code == 303 and home.headers["location"] == "/intents"


async def begin_signup(
    client: AsyncTestClient[Any], display_name: str = "Ada", **extra: Any
) -> tuple[dict[str, str], dict[str, Any]]:
    csrf = await csrf_header(client, "/signup")
    options = await client.post(
        "/passkeys/signup/options", json={"display_name": display_name, **extra}, headers=csrf
    )
    assert options.status_code == 200, options.text
    return csrf, options.json()["publicKey"]


async def passkey_signup(
    client: AsyncTestClient[Any], authenticator: SoftAuthenticator, display_name: str = "Ada"
) -> dict[str, Any]:
    csrf, options = await begin_signup(client, display_name, label="phone")
    credential = authenticator.create(options, origin=ORIGIN)
    done = await client.post("/passkeys/signup", json={"credential": credential}, headers=csrf)
    assert done.status_code == 201, done.text
    return done.json()


async def begin_signin(client: AsyncTestClient[Any]) -> tuple[dict[str, str], dict[str, Any]]:
    csrf = await csrf_header(client, "/signin")
    options = await client.post("/passkeys/signin/options", json={}, headers=csrf)
    assert options.status_code == 200, options.text
    return csrf, options.json()["publicKey"]


async def sign_out(client: AsyncTestClient[Any]) -> None:
    page = await client.get("/signin")
    csrf = CSRF_INPUT.search(page.text)
    assert csrf
    await client.post("/signout", data={"_csrf_token": csrf.group(1)})
    assert not await signed_in_as_buyer(client)


async def test_signup_with_a_passkey_makes_a_buyer_without_email_and_signs_in(client, db) -> None:
    authenticator = SoftAuthenticator()
    csrf, options = await begin_signup(client, "Ada", label="phone")
    assert options["rp"] == {"id": "testserver.local", "name": "intentcast"}
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["attestation"] == "none"
    credential = authenticator.create(options, origin=ORIGIN)
    done = await client.post("/passkeys/signup", json={"credential": credential}, headers=csrf)
    assert done.status_code == 201, done.text
    body = done.json()
    assert body["display_name"] == "Ada" and body["passkey"] == "phone"
    cookie = done.headers["set-cookie"]
    assert "intentcast_session=" in cookie and "HttpOnly" in cookie
    assert await signed_in_as_buyer(client)
    me = await client.get("/v1/me", headers={"Authorization": "Bearer " + body["token"]})
    assert me.status_code == 200
    assert me.json()["display_name"] == "Ada"
    assert me.json()["email"] is None and me.json()["name"] is None
    row = await db.fetchrow("SELECT * FROM passkeys WHERE buyer_id = $1", me.json()["id"])
    assert row["label"] == "phone" and row["transports"] == ["internal"]
    assert bytes(row["user_handle"]) != me.json()["id"].encode()  # no account id in it
    assert row["last_used_at"] is None


async def test_sign_in_with_the_passkey_needs_no_name(client, db) -> None:
    authenticator = SoftAuthenticator()
    body = await passkey_signup(client, authenticator)
    await sign_out(client)
    csrf, options = await begin_signin(client)
    assert options["rpId"] == "testserver.local"
    assert options.get("allowCredentials", []) == []  # discoverable: the browser offers them
    assert options["userVerification"] == "required"
    answer = authenticator.get(options, origin=ORIGIN)
    done = await client.post(
        "/passkeys/signin", json={"credential": answer, "next": "/ledger"}, headers=csrf
    )
    assert done.status_code == 200, done.text
    assert done.json() == {"next": "/ledger"}
    assert await signed_in_as_buyer(client)
    intents = await client.get("/intents")
    assert intents.status_code == 200
    me = await client.get("/v1/me", headers={"Authorization": "Bearer " + body["token"]})
    row = await db.fetchrow("SELECT * FROM passkeys WHERE buyer_id = $1", me.json()["id"])
    assert row["sign_count"] == 1 and row["last_used_at"] is not None


async def test_signin_next_never_leaves_the_site(client) -> None:
    authenticator = SoftAuthenticator()
    await passkey_signup(client, authenticator)
    await sign_out(client)
    csrf, options = await begin_signin(client)
    answer = authenticator.get(options, origin=ORIGIN)
    done = await client.post(
        "/passkeys/signin", json={"credential": answer, "next": "//evil.example/"}, headers=csrf
    )
    assert done.json() == {"next": "/intents"}


async def test_a_ceremony_is_used_once_and_an_answer_cannot_be_replayed(client) -> None:
    authenticator = SoftAuthenticator()
    await passkey_signup(client, authenticator)
    await sign_out(client)
    csrf, options = await begin_signin(client)
    answer = authenticator.get(options, origin=ORIGIN)
    assert (
        await client.post("/passkeys/signin", json={"credential": answer}, headers=csrf)
    ).status_code == 200
    await sign_out(client)
    again = await client.post("/passkeys/signin", json={"credential": answer}, headers=csrf)
    assert again.status_code == 409
    assert again.json()["code"] == "passkey-ceremony-expired"
    # the same answer in a fresh ceremony: its challenge is not the new one
    csrf, _ = await begin_signin(client)
    replay = await client.post("/passkeys/signin", json={"credential": answer}, headers=csrf)
    assert replay.status_code == 401
    assert "challenge" in replay.json()["detail"]
    assert not await signed_in_as_buyer(client)


async def test_a_failed_answer_uses_up_its_ceremony(client) -> None:
    authenticator = SoftAuthenticator()
    await passkey_signup(client, authenticator)
    await sign_out(client)
    csrf, options = await begin_signin(client)
    wrong = authenticator.get(options, origin="http://evil.example")
    assert (
        await client.post("/passkeys/signin", json={"credential": wrong}, headers=csrf)
    ).status_code == 401
    right = authenticator.get(options, origin=ORIGIN)
    retry = await client.post("/passkeys/signin", json={"credential": right}, headers=csrf)
    assert retry.status_code == 409
    assert not await signed_in_as_buyer(client)


async def test_answers_for_another_origin_rp_or_challenge_are_refused(client) -> None:
    authenticator = SoftAuthenticator()
    await passkey_signup(client, authenticator)
    await sign_out(client)
    for tamper, expected in (
        ({"origin": "https://phish.example"}, "origin"),
        ({"origin": ORIGIN, "rp_id": "phish.example"}, "RP ID"),
        ({"origin": ORIGIN, "challenge": b"\x00" * 64}, "challenge"),
        ({"origin": ORIGIN, "flags": FLAG_UP}, "verif"),
    ):
        csrf, options = await begin_signin(client)
        answer = authenticator.get(options, **tamper)
        refused = await client.post("/passkeys/signin", json={"credential": answer}, headers=csrf)
        assert refused.status_code == 401, (tamper, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert expected in refused.json()["detail"], (tamper, refused.json())
        assert not await signed_in_as_buyer(client)


async def test_a_counter_that_goes_back_is_refused_as_a_clone(client) -> None:
    authenticator = SoftAuthenticator()
    await passkey_signup(client, authenticator)
    await sign_out(client)
    csrf, options = await begin_signin(client)
    first = authenticator.get(options, origin=ORIGIN, counter=5)
    assert (
        await client.post("/passkeys/signin", json={"credential": first}, headers=csrf)
    ).status_code == 200
    await sign_out(client)
    csrf, options = await begin_signin(client)
    clone = authenticator.get(options, origin=ORIGIN, counter=5)
    refused = await client.post("/passkeys/signin", json={"credential": clone}, headers=csrf)
    assert refused.status_code == 401
    assert "sign count" in refused.json()["detail"]


async def test_an_unknown_passkey_or_a_foreign_user_handle_is_refused(client) -> None:
    authenticator = SoftAuthenticator()
    await passkey_signup(client, authenticator)
    await sign_out(client)
    stranger = SoftAuthenticator()
    _, options = await begin_signup(client, "Mallory")
    stranger.create(options, origin=ORIGIN)  # never sent: the server does not know it
    csrf, options = await begin_signin(client)
    unknown = stranger.get(options, origin=ORIGIN)
    refused = await client.post("/passkeys/signin", json={"credential": unknown}, headers=csrf)
    assert refused.status_code == 401
    assert "not registered" in refused.json()["detail"]
    csrf, options = await begin_signin(client)
    other = authenticator.get(options, origin=ORIGIN, user_handle=b"someone else")
    refused = await client.post("/passkeys/signin", json={"credential": other}, headers=csrf)
    assert refused.status_code == 401
    assert "another account" in refused.json()["detail"]


async def test_signup_refuses_a_passkey_without_user_verification_or_for_another_site(
    client, db
) -> None:
    before = await db.fetchval("SELECT count(*) FROM buyers")
    for tamper in ({"flags": FLAG_UP}, {"rp_id": "phish.example"}, {"challenge": b"x" * 64}):
        csrf, options = await begin_signup(client)
        credential = SoftAuthenticator().create(options, origin=ORIGIN, **tamper)
        refused = await client.post(
            "/passkeys/signup", json={"credential": credential}, headers=csrf
        )
        assert refused.status_code == 403, (tamper, refused.text)
        assert refused.json()["code"] == "passkey-refused"
    assert await db.fetchval("SELECT count(*) FROM buyers") == before
    assert not await signed_in_as_buyer(client)


async def test_the_same_passkey_cannot_make_two_accounts(client, db) -> None:
    authenticator = SoftAuthenticator()
    csrf, options = await begin_signup(client)
    credential = authenticator.create(options, origin=ORIGIN)
    assert (
        await client.post("/passkeys/signup", json={"credential": credential}, headers=csrf)
    ).status_code == 201
    before = await db.fetchval("SELECT count(*) FROM buyers")
    await sign_out(client)
    csrf, options = await begin_signup(client)
    # the same credential id and key answering a new challenge
    duplicate = authenticator.create(options, origin=ORIGIN, reuse=authenticator.passkeys[0])
    refused = await client.post("/passkeys/signup", json={"credential": duplicate}, headers=csrf)
    assert refused.status_code == 409
    assert refused.json()["code"] == "passkey-exists"
    assert await db.fetchval("SELECT count(*) FROM buyers") == before  # rolled back


async def test_bad_requests_get_a_4xx_naming_the_problem(client) -> None:
    csrf = await csrf_header(client, "/signup")
    long_name = await client.post(
        "/passkeys/signup/options", json={"display_name": "x" * 81}, headers=csrf
    )
    assert long_name.status_code == 422
    assert long_name.json()["field"] == "display_name"
    missing = await client.post("/passkeys/signup/options", json={}, headers=csrf)
    assert missing.status_code == 422 and "display_name" in missing.json()["detail"]
    unknown = await client.post(
        "/passkeys/signup/options", json={"display_name": "a", "email": "a@b.c"}, headers=csrf
    )
    assert unknown.status_code == 422
    not_json = await client.post(
        "/passkeys/signin/options",
        content=b"display_name=a",
        headers={**csrf, "content-type": "application/x-www-form-urlencoded"},
    )
    assert not_json.status_code == 400
    no_ceremony = await client.post(
        "/passkeys/signin", json={"credential": {"id": "x"}}, headers=csrf
    )
    assert no_ceremony.status_code == 409
    _, _ = await begin_signin(client)
    garbage = await client.post(
        "/passkeys/signin", json={"credential": {"id": "x", "rawId": 5}}, headers=csrf
    )
    assert garbage.status_code == 422 and garbage.json()["field"] == "credential"
    _, _ = await begin_signup(client)
    garbage = await client.post(
        "/passkeys/signup",
        json={"credential": {"id": "x", "response": "nope"}},
        headers=csrf,
    )
    assert garbage.status_code == 403 and garbage.json()["code"] == "passkey-refused"
    wrong_type = await client.post("/passkeys/signin", json={"credential": []}, headers=csrf)
    assert wrong_type.status_code == 422


async def test_json_posts_need_the_csrf_header(client) -> None:
    await client.get("/signin")
    refused = await client.post("/passkeys/signin/options", json={})
    assert refused.status_code == 403
    refused = await client.post(
        "/passkeys/signin/options", json={}, headers={"x-csrftoken": "forged"}
    )
    assert refused.status_code == 403


async def test_a_signed_in_buyer_adds_lists_and_removes_passkeys(client, db) -> None:
    buyer = await create_buyer(client)
    page = await client.get("/signin")
    csrf_input = CSRF_INPUT.search(page.text)
    assert csrf_input
    await client.post("/signin", data={"token": buyer.token, "_csrf_token": csrf_input.group(1)})
    listing = await client.get("/account/passkeys")
    assert listing.status_code == 200
    assert "You have no passkey yet" in listing.text
    authenticator = SoftAuthenticator()
    csrf = await csrf_header(client, "/account/passkeys")
    for label in ("laptop", "phone"):
        options = await client.post(
            "/account/passkeys/options", json={"label": label}, headers=csrf
        )
        assert options.status_code == 200, options.text
        public_key = options.json()["publicKey"]
        added = await client.post(
            "/account/passkeys",
            json={"credential": authenticator.create(public_key, origin=ORIGIN)},
            headers=csrf,
        )
        assert added.status_code == 201, added.text
        assert added.json() == {"passkey": label, "next": "/account/passkeys?done=added"}
    # the second passkey's options excluded the first, and both share one user handle
    assert [c["id"] for c in public_key["excludeCredentials"]] == [
        (await _credential_ids(db, buyer.id))[0]
    ]
    handles = await db.fetch(
        "SELECT DISTINCT user_handle FROM passkeys WHERE buyer_id = $1", buyer.id
    )
    assert len(handles) == 1
    listing = await client.get("/account/passkeys?done=added")
    assert "Passkey added." in listing.text
    assert "laptop" in listing.text and "phone" in listing.text
    ids = re.findall(r'action="/account/passkeys/(pk_[a-z0-9]+)/delete"', listing.text)
    assert len(ids) == 2
    form_csrf = CSRF_INPUT.search(listing.text)
    assert form_csrf
    for passkey_id in ids:  # a token session may remove even the last one
        removed = await client.post(
            f"/account/passkeys/{passkey_id}/delete",
            data={"_csrf_token": form_csrf.group(1)},
            follow_redirects=False,
        )
        assert removed.status_code == 303
        assert removed.headers["location"] == "/account/passkeys?done=removed"
    assert await db.fetchval("SELECT count(*) FROM passkeys WHERE buyer_id = $1", buyer.id) == 0
    gone = await client.post(
        f"/account/passkeys/{ids[0]}/delete", data={"_csrf_token": form_csrf.group(1)}
    )
    assert gone.status_code == 404


async def test_removing_a_passkey_ends_the_sessions_opened_with_it(client, db) -> None:
    buyer = await create_buyer(client)
    page = await client.get("/signin")
    csrf_input = CSRF_INPUT.search(page.text)
    assert csrf_input
    await client.post("/signin", data={"token": buyer.token, "_csrf_token": csrf_input.group(1)})
    laptop, phone = SoftAuthenticator(), SoftAuthenticator()
    csrf = await csrf_header(client, "/account/passkeys")
    for label, authenticator in (("laptop", laptop), ("phone", phone)):
        options = await client.post(
            "/account/passkeys/options", json={"label": label}, headers=csrf
        )
        credential = authenticator.create(options.json()["publicKey"], origin=ORIGIN)
        added = await client.post(
            "/account/passkeys", json={"credential": credential}, headers=csrf
        )
        assert added.status_code == 201, added.text
    await sign_out(client)
    csrf, options = await begin_signin(client)
    signed = await client.post(
        "/passkeys/signin", json={"credential": phone.get(options, origin=ORIGIN)}, headers=csrf
    )
    assert signed.status_code == 200, signed.text
    phone_id = await db.fetchval(
        "SELECT id FROM passkeys WHERE buyer_id = $1 AND label = 'phone'", buyer.id
    )
    listing = await client.get("/account/passkeys")
    form_csrf = CSRF_INPUT.search(listing.text)
    assert form_csrf
    removed = await client.post(
        f"/account/passkeys/{phone_id}/delete",
        data={"_csrf_token": form_csrf.group(1)},
        follow_redirects=False,
    )
    assert removed.status_code == 303
    assert not await signed_in_as_buyer(client)  # the phone's session ended with it
    csrf, options = await begin_signin(client)
    signed = await client.post(
        "/passkeys/signin", json={"credential": laptop.get(options, origin=ORIGIN)}, headers=csrf
    )
    assert signed.status_code == 200, signed.text
    assert await signed_in_as_buyer(client)  # the other passkey still signs in


async def _credential_ids(db, buyer_id: str) -> list[str]:
    from webauthn.helpers import bytes_to_base64url

    rows = await db.fetch(
        "SELECT credential_id FROM passkeys WHERE buyer_id = $1 ORDER BY created_at", buyer_id
    )
    return [bytes_to_base64url(bytes(r["credential_id"])) for r in rows]


async def test_a_passkey_session_cannot_remove_its_last_passkey(client, db) -> None:
    authenticator = SoftAuthenticator()
    await passkey_signup(client, authenticator)
    listing = await client.get("/account/passkeys")
    assert "Your only passkey can be removed once you add another" in listing.text
    passkey_id = re.search(r'action="/account/passkeys/(pk_[a-z0-9]+)/delete"', listing.text)
    form_csrf = CSRF_INPUT.search(listing.text)
    assert passkey_id and form_csrf
    refused = await client.post(
        f"/account/passkeys/{passkey_id.group(1)}/delete",
        data={"_csrf_token": form_csrf.group(1)},
        follow_redirects=False,
    )
    assert refused.status_code == 409
    assert "This is your only passkey" in refused.text
    assert await db.fetchval("SELECT count(*) FROM passkeys") >= 1


async def test_another_buyers_passkey_is_not_found(client) -> None:
    await passkey_signup(client, SoftAuthenticator(), "Ada")
    listing = await client.get("/account/passkeys")
    ada_passkey = re.search(r'action="/account/passkeys/(pk_[a-z0-9]+)/delete"', listing.text)
    assert ada_passkey
    await sign_out(client)
    await passkey_signup(client, SoftAuthenticator(), "Bob")
    listing = await client.get("/account/passkeys")
    form_csrf = CSRF_INPUT.search(listing.text)
    assert form_csrf
    refused = await client.post(
        f"/account/passkeys/{ada_passkey.group(1)}/delete", data={"_csrf_token": form_csrf.group(1)}
    )
    assert refused.status_code == 404


async def test_adding_a_passkey_needs_a_signed_in_buyer(client) -> None:
    await passkey_signup(client, SoftAuthenticator(), "Ada")
    csrf = await csrf_header(client, "/account/passkeys")
    options = await client.post("/account/passkeys/options", json={}, headers=csrf)
    assert options.status_code == 200
    await sign_out(client)
    csrf = await csrf_header(client, "/signin")
    answer = SoftAuthenticator().create(options.json()["publicKey"], origin=ORIGIN)
    anonymous = await client.post(
        "/account/passkeys", json={"credential": answer}, headers=csrf, follow_redirects=False
    )
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/signin")


async def test_an_erased_buyer_cannot_sign_in_with_a_passkey(client) -> None:
    authenticator = SoftAuthenticator()
    body = await passkey_signup(client, authenticator)
    erased = await client.delete("/v1/me", headers={"Authorization": "Bearer " + body["token"]})
    assert erased.status_code in (200, 204), erased.text
    assert not await signed_in_as_buyer(client)  # the open passkey session ended too
    csrf, options = await begin_signin(client)
    answer = authenticator.get(options, origin=ORIGIN)
    refused = await client.post("/passkeys/signin", json={"credential": answer}, headers=csrf)
    assert refused.status_code == 401
    assert not await signed_in_as_buyer(client)


async def test_the_export_lists_passkeys_and_erasure_removes_them(client, db) -> None:
    body = await passkey_signup(client, SoftAuthenticator())
    headers = {"Authorization": "Bearer " + body["token"]}
    exported = (await client.get("/v1/me/export", headers=headers)).json()
    [passkey] = exported["passkeys"]
    assert passkey["label"] == "phone" and passkey["transports"] == ["internal"]
    assert set(passkey) == {"id", "label", "transports", "backed_up", "created_at", "last_used_at"}
    download = await client.get("/account/export")  # the web page's copy: the same document
    assert download.status_code == 200
    assert download.json()["passkeys"] == exported["passkeys"]
    buyer_id = exported["buyer"]["id"]
    assert (await client.delete("/v1/me", headers=headers)).status_code == 204
    assert await db.fetchval("SELECT count(*) FROM passkeys WHERE buyer_id = $1", buyer_id) == 0


async def test_public_url_sets_the_relying_party(make_client, make_settings) -> None:
    client = await make_client(make_settings(public_url="https://market.example"))
    authenticator = SoftAuthenticator()
    csrf, options = await begin_signup(client)
    assert options["rp"]["id"] == "market.example"
    local = authenticator.create(options, origin=ORIGIN)
    refused = await client.post("/passkeys/signup", json={"credential": local}, headers=csrf)
    assert refused.status_code == 403 and "origin" in refused.json()["detail"]
    csrf, options = await begin_signup(client)
    public = authenticator.create(options, origin="https://market.example")
    done = await client.post("/passkeys/signup", json={"credential": public}, headers=csrf)
    assert done.status_code == 201, done.text


def test_the_relying_party_is_a_host_name() -> None:
    rp = relying_party(None, "http://localhost:8000")
    assert (rp.rp_id, rp.origin) == ("localhost", "http://localhost:8000")
    rp = relying_party("https://Market.Example/", "http://10.0.0.2:8000")
    assert (rp.rp_id, rp.origin) == ("market.example", "https://market.example")
    for address in ("http://127.0.0.1:8000", "http://[::1]:8000"):
        try:
            relying_party(None, address)
        except Exception as exc:
            assert getattr(exc, "code", None) == "passkeys-unavailable"
            assert "not by an IP address" in str(exc)
        else:
            raise AssertionError(f"{address} got a relying party")


async def test_pages_offer_passkeys_next_to_the_token(client) -> None:
    signin = await client.get("/signin?next=/ledger")
    assert 'data-passkey-ceremony="signin"' in signin.text
    assert 'data-next="/ledger"' in signin.text
    assert "With your API token" in signin.text
    assert '<script src="/static/js/passkeys.js" defer></script>' in signin.text
    signup = await client.get("/signup")
    assert 'data-passkey-ceremony="signup"' in signup.text
    assert 'action="/signup"' in signup.text  # the form with details stays
    script = await client.get("/static/js/passkeys.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]


async def test_a_ceremony_is_taken_once_even_by_racing_requests(redis_url) -> None:
    client = redis.from_url(redis_url)
    try:
        ceremonies = Ceremonies(client)
        rp = relying_party(None, ORIGIN)
        ceremony_id, _ = await begin_signin_ceremony(ceremonies, rp)
        results = await asyncio.gather(
            *(ceremonies.take(ceremony_id, "signin") for _ in range(5)), return_exceptions=True
        )
        taken = [r for r in results if isinstance(r, Ceremony)]
        refused = [r for r in results if isinstance(r, StateConflict)]
        assert len(taken) == 1 and len(refused) == 4
        assert await client.ttl(CEREMONY_KEY_PREFIX + ceremony_id) == -2  # gone
        ceremony_id, _ = await begin_signin_ceremony(ceremonies, rp)
        ttl = await client.ttl(CEREMONY_KEY_PREFIX + ceremony_id)
        assert 0 < ttl <= CEREMONY_TTL_S
        with pytest.raises(StateConflict):  # a sign-in ceremony cannot finish a sign-up
            await ceremonies.take(ceremony_id, "signup")
    finally:
        await client.aclose()


async def test_an_add_ceremony_is_bound_to_its_account(client, db, redis_url) -> None:
    ada = await create_buyer(client)
    bob = await create_buyer(client)
    redis_client = redis.from_url(redis_url)
    try:
        ceremonies = Ceremonies(redis_client)
        ceremony_id, options = await begin_adding(
            db, ceremonies, relying_party(None, ORIGIN), buyer_id=ada.id, label=None
        )
        answer = SoftAuthenticator().create(options, origin=ORIGIN)
        with pytest.raises(StateConflict):
            await finish_adding(
                db, ceremonies, buyer_id=bob.id, ceremony_id=ceremony_id, credential=answer
            )
    finally:
        await redis_client.aclose()
    assert await db.fetchval("SELECT count(*) FROM passkeys") == 0
