"""The authorization matrix of the deal routes: every route, with every role, with owner and
non-owner tokens. No 200 where there must be a 401, 403 or 404."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from intentcast.domain.scopes import SCOPES
from intentcast.store.accounts import Operators, Tokens
from tests.helpers import bearer, create_buyer, create_vendor, matched, publish

ACTORS = (
    "anonymous",
    "buyer",
    "other_buyer",
    "vendor",
    "matched_vendor",
    "stranger_vendor",
    "operator",
    "scoped_buyer",
)
SCOPED_BUYER_MAY = {
    "read offer",
    "list intent offers",
    "decline offer",
    "list threads",
    "read thread",
    "post message",
    "flag message",
    "public key",
}
"""The routes the buyer's own token holding every scope passes (api/scopes.py); on every
other route it gets 403 token-scope, even where the full token acts."""


@dataclass
class World:
    tokens: dict[str, str | None]
    ids: dict[str, str]


@pytest.fixture
async def world(client, db) -> World:
    buyer = await create_buyer(client, email="ada@example.org", phone="+49 170 1234567")
    other_buyer = await create_buyer(client)
    vendor = await create_vendor(client, db)  # matched, made the offer
    matched_vendor = await create_vendor(client, db)  # matched, no offer
    stranger = await create_vendor(client, db)  # never matched
    operator_id = await Operators(db).create("op")
    _, operator_token = await Tokens(db).issue("operator", operator_id)
    intent = await publish(client, buyer)
    await matched(db, intent["id"], vendor, matched_vendor)
    offer = await client.post(
        f"/v1/intents/{intent['id']}/offers",
        json={"price": {"amount": "100", "currency": "EUR"}, "title": "offer"},
        headers=vendor.headers,
    )
    assert offer.status_code == 201, offer.text
    thread = await client.post(
        f"/v1/intents/{intent['id']}/threads", json={"body": "hello"}, headers=vendor.headers
    )
    assert thread.status_code == 201, thread.text
    reveal = await client.post(
        f"/v1/intents/{intent['id']}/reveals",
        json={"vendor_id": vendor.id, "fields": ["email"]},
        headers=buyer.headers,
    )
    assert reveal.status_code == 201, reveal.text
    message_id = thread.json()["messages"][0]["id"]
    return World(
        tokens={
            "anonymous": None,
            "buyer": buyer.token,
            "other_buyer": other_buyer.token,
            "vendor": vendor.token,
            "matched_vendor": matched_vendor.token,
            "stranger_vendor": stranger.token,
            "operator": operator_token,
            "scoped_buyer": (await mint_scoped(client, buyer.headers)),
        },
        ids={
            "intent": intent["id"],
            "offer": offer.json()["id"],
            "thread": thread.json()["id"],
            "reveal": reveal.json()["id"],
            "message": message_id,
            "vendor": vendor.id,
            "matched_vendor": matched_vendor.id,
        },
    )


async def mint_scoped(client, headers) -> str:
    answer = await client.post(
        "/v1/me/tokens", json={"label": "agent", "scopes": sorted(SCOPES)}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["token"]


D = 401, 403, 404  # the denials; each row says which one each actor gets
OFFER_BODY = {"price": {"amount": "90", "currency": "EUR"}, "title": "t"}
# route → (method, path, body, {actor: expected status}); unlisted actors get 403 (wrong role)
MATRIX = {
    "create offer": (
        "post",
        "/v1/intents/{intent}/offers",
        OFFER_BODY,
        {"matched_vendor": 201, "vendor": 409, "stranger_vendor": 404},
    ),
    "revise offer": (
        "patch",
        "/v1/offers/{offer}",
        {"title": "new"},
        {"vendor": 200, "matched_vendor": 404, "stranger_vendor": 404},
    ),
    "withdraw offer": (
        "post",
        "/v1/offers/{offer}/withdraw",
        None,
        {"vendor": 200, "matched_vendor": 404, "stranger_vendor": 404},
    ),
    "read offer": (
        "get",
        "/v1/offers/{offer}",
        None,
        {
            "vendor": 200,
            "buyer": 200,
            "matched_vendor": 404,
            "stranger_vendor": 404,
            "other_buyer": 404,
        },
    ),
    "list own offers": (
        "get",
        "/v1/vendor/offers",
        None,
        {"vendor": 200, "matched_vendor": 200, "stranger_vendor": 200},
    ),
    "list intent offers": (
        "get",
        "/v1/intents/{intent}/offers",
        None,
        {"buyer": 200, "other_buyer": 404},
    ),
    "accept offer": ("post", "/v1/offers/{offer}/accept", {}, {"buyer": 200, "other_buyer": 404}),
    "decline offer": (
        "post",
        "/v1/offers/{offer}/decline",
        None,
        {"buyer": 200, "other_buyer": 404},
    ),
    "rate offer": (
        "post",
        "/v1/offers/{offer}/rating",
        {"stars": 4},
        {"buyer": 409, "other_buyer": 404},
    ),
    "reveal": (
        "post",
        "/v1/intents/{intent}/reveals",
        {"vendor_id": "{matched_vendor}", "fields": ["email"]},
        {"buyer": 201, "other_buyer": 404},
    ),
    "revoke reveal": ("delete", "/v1/reveals/{reveal}", None, {"buyer": 204, "other_buyer": 404}),
    "ledger": ("get", "/v1/me/disclosures", None, {"buyer": 200, "other_buyer": 200}),
    "block": ("post", "/v1/vendors/{vendor}/block", None, {"buyer": 204, "other_buyer": 204}),
    "unblock": ("delete", "/v1/vendors/{vendor}/block", None, {"buyer": 204, "other_buyer": 204}),
    "accept terms": (
        "post",
        "/v1/vendor/reveals/{reveal}/accept-terms",
        None,
        {"vendor": 200, "matched_vendor": 404, "stranger_vendor": 404},
    ),
    "read reveal": (
        "get",
        "/v1/vendor/reveals/{reveal}",
        None,
        {"vendor": 409, "matched_vendor": 404, "stranger_vendor": 404},
    ),
    "public key": ("get", "/v1/receipts/public-key", None, dict.fromkeys(ACTORS, 200)),
    "open thread": (
        "post",
        "/v1/intents/{intent}/threads",
        {"body": "hi"},
        {"matched_vendor": 201, "vendor": 409, "stranger_vendor": 404},
    ),
    "list threads": (
        "get",
        "/v1/threads",
        None,
        {
            "buyer": 200,
            "other_buyer": 200,
            "vendor": 200,
            "matched_vendor": 200,
            "stranger_vendor": 200,
        },
    ),
    "read thread": (
        "get",
        "/v1/threads/{thread}",
        None,
        {
            "buyer": 200,
            "vendor": 200,
            "other_buyer": 404,
            "matched_vendor": 404,
            "stranger_vendor": 404,
        },
    ),
    "post message": (
        "post",
        "/v1/threads/{thread}/messages",
        {"body": "hi"},
        {
            "buyer": 201,
            "vendor": 201,
            "other_buyer": 404,
            "matched_vendor": 404,
            "stranger_vendor": 404,
        },
    ),
    "flag message": (
        "post",
        "/v1/messages/{message}/flag",
        {"reason": "spam"},
        {
            "buyer": 202,
            "vendor": 202,
            "other_buyer": 404,
            "matched_vendor": 404,
            "stranger_vendor": 404,
        },
    ),
}


def expected(route: str, actor: str) -> int:
    statuses = MATRIX[route][3]
    if actor == "scoped_buyer":
        if route not in SCOPED_BUYER_MAY:
            return 403
        actor = "buyer"  # as the full token would (checked loosely: state may have moved)
    if actor in statuses:
        return statuses[actor]
    return 401 if actor == "anonymous" else 403


@pytest.mark.parametrize("route", list(MATRIX))
async def test_authorization_matrix(client, world: World, route: str) -> None:
    method, template, body, _ = MATRIX[route]
    path = template.format(**world.ids)
    if isinstance(body, dict):
        body = {k: (v.format(**world.ids) if isinstance(v, str) else v) for k, v in body.items()}
    # denials first, then the allowed calls (which may change state)
    order = sorted(ACTORS, key=lambda a: expected(route, a) < 400)
    for actor in order:
        token = world.tokens[actor]
        headers = bearer(token) if token else {}
        kwargs = {"json": body} if body is not None else {}
        response = await client.request(method.upper(), path, headers=headers, **kwargs)
        want = expected(route, actor)
        if actor == "scoped_buyer" and want not in D:
            assert response.status_code not in D and response.status_code < 500, (
                f"{route} as {actor}: {response.status_code} {response.text}"
            )
            continue
        assert response.status_code == want, (
            f"{route} as {actor}: {response.status_code} {response.text}"
        )
        if actor == "scoped_buyer":
            assert response.json()["code"] == "token-scope", response.text
        if want in D:
            assert response.headers["content-type"].startswith("application/problem+json")
            # a denial never leaks the resource's content
            for secret in ("ada@example.org", "hello", world.ids["offer"]):
                if actor != "vendor" or want != 404:
                    assert secret not in response.text or secret in path


async def test_vendor_stream_and_buyer_stream_deny_wrong_roles(client, world: World) -> None:
    for path, allowed in (("/v1/me/stream", "buyer"), ("/v1/vendor/stream", "vendor")):
        for actor in ACTORS:
            if (
                actor == allowed
                or (allowed == "vendor" and "vendor" in actor)
                or (allowed == "buyer" and actor in ("other_buyer", "scoped_buyer"))
            ):
                continue
            token = world.tokens[actor]
            response = await client.get(path, headers=bearer(token) if token else {})
            assert response.status_code == (401 if token is None else 403), (path, actor)
