"""Scoped (delegated) buyer tokens over HTTP: the authorization matrix with scopes (every
operation, each scope alone and all of them together: allowed exactly where
``api/scopes.py`` says, 403 ``token-scope`` elsewhere), the five things no scope grants
(reveal, accept, export, erase, token mint), expiry (401, also while cached), bad scopes
and expiries (422 naming the field), listing, revocation, and the web sign-in refusing a
scoped token."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest

from intentcast.api.scopes import REQUIRED_SCOPE
from intentcast.client import AsyncClient, Forbidden
from intentcast.domain.scopes import SCOPES, allows
from intentcast.store.accounts import Tokens
from tests.api.inprocess import (
    AppCaller,
    Callers,
    committed_openapi,
    operations,
    operator_token,
    roles_allowed,
    statuses_with,
)
from tests.api.test_web_buyer import CSRF_INPUT, signed_in
from tests.helpers import bearer, matched, publish

ALL_SCOPES = sorted(SCOPES)


async def mint(client, buyer, **body) -> dict:
    answer = await client.post("/v1/me/tokens", json=body, headers=buyer.headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def test_authorization_matrix_with_scopes(client, db, buyer, vendor) -> None:
    """For every operation: a scoped token passes authorization exactly where a full buyer
    token does and one of its scopes grants the route; elsewhere it is 403 `token-scope`."""
    all_operations = operations(committed_openapi())
    call = AppCaller(client)
    callers = Callers(buyer=buyer, vendor=vendor, operator=await operator_token(db))
    full = await asyncio.to_thread(roles_allowed, call, callers, all_operations)
    buyer_may = {op for op, who in full.items() if "buyer" in who} | {"eraseMe"}  # spared there
    scope_sets = [[scope] for scope in ALL_SCOPES] + [ALL_SCOPES]
    for scopes in scope_sets:
        token = (await mint(client, buyer, label="agent", scopes=scopes))["token"]
        answers = await asyncio.to_thread(statuses_with, call, token, all_operations)
        for operation in all_operations:
            op = operation.operation_id
            status, code = answers[op]
            granted = allows(frozenset(scopes), REQUIRED_SCOPE[op])
            if granted and op in buyer_may:
                assert status not in (401, 403), (scopes, op, status, code)
            elif not granted:
                assert (status, code) == (403, "token-scope"), (scopes, op, status, code)
            else:  # granted (open to all) but not to buyers at all: refused by role
                assert status in (401, 403), (scopes, op, status, code)
    # the buyer survived every scoped DELETE /v1/me
    assert (await client.get("/v1/me", headers=buyer.headers)).status_code == 200


async def test_no_scope_reveals_accepts_exports_erases_or_mints(client, db, buyer, vendor) -> None:
    agent = await mint(client, buyer, label="agent", scopes=ALL_SCOPES)
    as_agent = bearer(agent["token"])
    intent = await publish(client, buyer)
    await matched(db, intent["id"], vendor)
    offer = await client.post(
        f"/v1/intents/{intent['id']}/offers",
        json={"price": {"amount": "100", "currency": "EUR"}, "title": "offer"},
        headers=vendor.headers,
    )
    assert offer.status_code == 201, offer.text
    offer_id = offer.json()["id"]

    refused = [
        await client.post(
            f"/v1/intents/{intent['id']}/reveals",
            json={"vendor_id": vendor.id, "fields": ["email"]},
            headers=as_agent,
        ),
        await client.post(f"/v1/offers/{offer_id}/accept", json={}, headers=as_agent),
        await client.get("/v1/me/export", headers=as_agent),
        await client.delete("/v1/me", headers=as_agent),
        await client.post("/v1/me/tokens", json={"label": "more"}, headers=as_agent),
        await client.post("/v1/me/tokens", json={"scopes": ["intents:read"]}, headers=as_agent),
        await client.get("/v1/me", headers=as_agent),
    ]
    for answer in refused:
        assert answer.status_code == 403, (answer.request.url, answer.text)
        assert answer.json()["code"] == "token-scope"
        assert answer.json()["required_scope"] is None
    # nothing happened: no reveal, the offer still open, the buyer not erased, one token more
    assert (await client.get(f"/v1/offers/{offer_id}", headers=buyer.headers)).json()[
        "status"
    ] != "accepted"
    assert (await client.get("/v1/me/disclosures", headers=buyer.headers)).json()["items"] == []
    tokens = (await client.get("/v1/me/tokens", headers=buyer.headers)).json()["items"]
    assert len(tokens) == 2

    # …while what the agent is for works
    assert (await client.get("/v1/intents", headers=as_agent)).status_code == 200
    listed = await client.get(f"/v1/intents/{intent['id']}/offers", headers=as_agent)
    assert listed.status_code == 200 and listed.json()["items"][0]["id"] == offer_id
    paused = await client.patch(
        f"/v1/intents/{intent['id']}", json={"status": "paused"}, headers=as_agent
    )
    assert paused.status_code == 200, paused.text


async def test_a_missing_scope_is_named(client, buyer) -> None:
    reader = await mint(client, buyer, scopes=["intents:read"])
    assert (await client.get("/v1/intents", headers=bearer(reader["token"]))).status_code == 200
    answer = await client.get("/v1/threads", headers=bearer(reader["token"]))
    assert answer.status_code == 403
    assert answer.json()["code"] == "token-scope"
    assert answer.json()["required_scope"] == "relay:read"
    assert "relay:read" in answer.json()["detail"]


async def test_listing_shows_scopes_and_expiry(client, buyer) -> None:
    ends = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    made = await mint(
        client,
        buyer,
        label="agent",
        scopes=["offers:read", "intents:read"],
        expires_at=ends.isoformat(),
    )
    assert made["scopes"] == ["intents:read", "offers:read"]
    assert datetime.fromisoformat(made["expires_at"]) == ends
    items = (await client.get("/v1/me/tokens", headers=buyer.headers)).json()["items"]
    by_id = {t["id"]: t for t in items}
    assert by_id[made["id"]]["scopes"] == ["intents:read", "offers:read"]
    assert datetime.fromisoformat(by_id[made["id"]]["expires_at"]) == ends
    [initial] = [t for t in items if t["id"] != made["id"]]
    assert initial["scopes"] is None and initial["expires_at"] is None


async def test_bad_scopes_and_expiries_are_refused_naming_the_field(client, buyer, vendor) -> None:
    now = datetime.now(UTC)
    cases = [
        ({"scopes": ["reveals:write"]}, 422, "scopes"),
        ({"scopes": ["intents:read", "tokens:write"]}, 422, "scopes"),
        ({"scopes": []}, 422, "scopes"),
        ({"expires_at": (now - timedelta(hours=1)).isoformat()}, 422, "expires_at"),
        ({"expires_at": (now + timedelta(days=400)).isoformat()}, 422, "expires_at"),
        ({"expires_at": "2027-01-01T00:00:00"}, 422, "expires_at"),  # no time zone
        ({"scopes": "intents:read"}, 400, "scopes"),  # malformed: 400, as everywhere
        ({"expires_at": "soon"}, 400, "expires_at"),
    ]
    for body, status, field in cases:
        answer = await client.post("/v1/me/tokens", json=body, headers=buyer.headers)
        assert answer.status_code == status, (body, answer.text)
        assert field in answer.text, (body, answer.text)
    unknown = await client.post(
        "/v1/me/tokens", json={"scopes": ["reveals:write"]}, headers=buyer.headers
    )
    assert unknown.json()["errors"][0]["field"] == "scopes"
    assert "reveals:write" in unknown.json()["errors"][0]["message"]
    vendors = await client.post(
        "/v1/vendor/tokens", json={"scopes": ["intents:read"]}, headers=vendor.headers
    )
    assert vendors.status_code in (400, 422) and "scopes" in vendors.text
    assert len((await client.get("/v1/me/tokens", headers=buyer.headers)).json()["items"]) == 1


async def test_an_expired_token_is_401_even_while_cached(client, db, buyer) -> None:
    principals = client.app.state.principals
    principals.ttl_s = 600.0  # only the expiry can end it
    ends = datetime.now(UTC) + timedelta(seconds=3)
    _, token = await Tokens(db).issue(
        "buyer", buyer.id, "short", scopes=["intents:read"], expires_at=ends
    )
    assert (await client.get("/v1/intents", headers=bearer(token))).status_code == 200
    assert principals.get(token) is not None  # cached
    await asyncio.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()) + 0.3)
    answer = await client.get("/v1/intents", headers=bearer(token))
    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthorized"


async def test_an_expired_full_token_is_401(client, db, buyer) -> None:
    _, token = await Tokens(db).issue(
        "buyer", buyer.id, "gone", expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert (await client.get("/v1/me", headers=bearer(token))).status_code == 401


async def test_revocation_never_leaves_only_scoped_or_expiring_tokens(client, buyer) -> None:
    agent = await mint(client, buyer, scopes=["intents:read"])
    ending = await mint(
        client, buyer, expires_at=(datetime.now(UTC) + timedelta(days=1)).isoformat()
    )
    items = (await client.get("/v1/me/tokens", headers=buyer.headers)).json()["items"]
    [initial] = [t for t in items if t["id"] not in (agent["id"], ending["id"])]
    last = await client.delete(f"/v1/me/tokens/{initial['id']}", headers=buyer.headers)
    assert last.status_code == 409 and last.json()["code"] == "last-token"
    gone = await client.delete(f"/v1/me/tokens/{agent['id']}", headers=buyer.headers)
    assert gone.status_code == 204
    assert (await client.get("/v1/intents", headers=bearer(agent["token"]))).status_code == 401
    assert (
        await client.delete(f"/v1/me/tokens/{ending['id']}", headers=buyer.headers)
    ).status_code == 204


async def test_a_scoped_token_cannot_sign_in_to_the_web_pages(client, buyer) -> None:
    agent = await mint(client, buyer, scopes=ALL_SCOPES)
    page = await client.get("/signin")
    csrf = CSRF_INPUT.search(page.text).group(1)
    answer = await client.post("/signin", data={"token": agent["token"], "_csrf_token": csrf})
    assert answer.status_code == 401
    assert "scoped for an assistant" in answer.text  # says why, and what to use instead
    mine = await client.get("/account/tokens", follow_redirects=False)
    assert mine.status_code == 303  # still signed out


NEW_TOKEN = re.compile(r'id="new-token" value="(icb_[^"]+)"')


async def test_the_tokens_page_makes_a_scoped_expiring_token(client) -> None:
    _, csrf = await signed_in(client)
    form = await client.get("/account/tokens")
    for scope in SCOPES:
        assert f'value="{scope}"' in form.text
    created = await client.post(
        "/account/tokens",
        data={
            "label": "assistant",
            "scopes": ["intents:read", "offers:read"],
            "expires_in_days": "7",
            "_csrf_token": csrf,
        },
    )
    assert created.status_code == 201, created.text
    token = NEW_TOKEN.search(created.text).group(1)
    assert "It may only: intents:read, offers:read." in created.text
    assert "Scoped: intents:read, offers:read" in created.text
    assert (await client.get("/v1/intents", headers=bearer(token))).status_code == 200
    assert (await client.get("/v1/me/export", headers=bearer(token))).status_code == 403
    expires = re.search(r"expires (\d{4}-\d{2}-\d{2})", created.text)
    assert expires
    in_a_week = datetime.now(UTC) + timedelta(days=7)
    assert expires.group(1) in {
        (in_a_week - timedelta(minutes=10)).strftime("%Y-%m-%d"),
        in_a_week.strftime("%Y-%m-%d"),
    }

    unknown = await client.post(
        "/account/tokens",
        data={"scopes": ["reveal:write"], "_csrf_token": csrf},
    )
    assert unknown.status_code == 422 and "reveal:write" in unknown.text
    bad_expiry = await client.post(
        "/account/tokens", data={"expires_in_days": "3650", "_csrf_token": csrf}
    )
    assert bad_expiry.status_code == 422 and "expiry" in bad_expiry.text


async def test_the_client_library_mints_and_uses_a_scoped_token(client) -> None:
    anonymous = AsyncClient(http=client)
    buyer = anonymous.with_token(
        (await anonymous.accounts.create_buyer({"display_name": "ada"})).token
    )
    ends = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    made = await buyer.buyer.tokens.create(
        "my assistant", scopes=["intents:read", "intents:write"], expires_at=ends
    )
    assert made.scopes == ["intents:read", "intents:write"]
    assert made.expires_at == ends
    agent = anonymous.with_token(made.token)
    assert [i async for i in agent.intents.list()] == []
    with pytest.raises(Forbidden) as refused:
        await agent.buyer.tokens.create("another")
    assert (refused.value.status, refused.value.code) == (403, "token-scope")
    with pytest.raises(Forbidden):
        await agent.buyer.export()
    listed = [t async for t in buyer.buyer.tokens.list()]
    assert {t.id: t.scopes for t in listed}[made.id] == ["intents:read", "intents:write"]
