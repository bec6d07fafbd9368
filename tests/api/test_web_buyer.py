"""The buyer pages without a browser: compose preview, publish, the intent page with its
offers fragment, accept pinning the version, chat, reveal, ledger, revoke, export, delete —
each through the same services as the API, refusals as readable 4xx pages."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import AsyncTestClient

from tests.helpers import CAMERA, create_buyer

CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')
PHONE = "+49 89 4132 7788"
FORM = {
    "category": "electronics/cameras/mirrorless",
    "title": "Sony A7 IV body",
    "description": f"Call me on {PHONE} after six.",
    "quantity": "1",
    "budget_max": "1800",
    "currency": "EUR",
    "budget_visible": "on",
    "country": "DE",
    "lat": "48.137",
    "lng": "11.575",
    "precision": "7",
    "fulfilment": "pickup",
}


async def signed_in(client: AsyncTestClient[Any], **persona: Any) -> tuple[Any, str]:
    """A new buyer signed in on ``client``; returns it and a CSRF token for forms."""
    buyer = await create_buyer(client, country="DE", **persona)
    page = await client.get("/signin")
    csrf = CSRF_INPUT.search(page.text).group(1)
    answer = await client.post("/signin", data={"token": buyer.token, "_csrf_token": csrf})
    assert answer.status_code == 200, answer.text
    return buyer, csrf


async def test_preview_shows_the_redacted_phone_and_the_coarse_area(client) -> None:
    _, csrf = await signed_in(client)
    compose = await client.get("/intents/new")
    assert compose.status_code == 200
    assert "electronics/cameras/mirrorless" in compose.text
    preview = await client.post("/intents/preview", data=FORM, headers={"X-CSRFToken": csrf})
    assert preview.status_code == 200, preview.text
    assert "[phone removed]" in preview.text
    assert f'<mark class="redacted">{PHONE}</mark>' in preview.text
    assert "km²" in preview.text and "resolution 7" in preview.text
    assert (await client.get("/intents")).text.count('class="card"') == 0  # nothing stored


async def test_preview_of_a_bad_draft_names_the_field(client) -> None:
    _, csrf = await signed_in(client)
    bad = await client.post(
        "/intents/preview", data={**FORM, "quantity": "many"}, headers={"X-CSRFToken": csrf}
    )
    assert bad.status_code == 422
    assert "quantity" in bad.text


async def test_publish_then_the_intent_page_lists_it(client) -> None:
    _, csrf = await signed_in(client)
    published = await client.post(
        "/intents", data={**FORM, "_csrf_token": csrf}, follow_redirects=False
    )
    assert published.status_code == 303, published.text
    intent_page = await client.get(published.headers["location"])
    assert intent_page.status_code == 200, intent_page.text
    assert "<h1>Sony A7 IV body</h1>" in intent_page.text
    assert PHONE not in intent_page.text.split("What vendors see")[1]
    listing = await client.get("/intents")
    assert "Sony A7 IV body" in listing.text and ">open<" in listing.text


async def test_publish_with_an_unknown_category_rerenders_the_form(client) -> None:
    _, csrf = await signed_in(client)
    answer = await client.post(
        "/intents", data={**FORM, "category": "nope/none", "_csrf_token": csrf}
    )
    assert answer.status_code == 422
    assert "unknown category" in answer.text
    assert 'value="Sony A7 IV body"' in answer.text


async def test_someone_elses_intent_is_a_404_page(client) -> None:
    other = await create_buyer(client)
    created = await client.post("/v1/intents", json=CAMERA, headers=other.headers)
    await signed_in(client)
    answer = await client.get(f"/intents/{created.json()['id']}")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")


async def deal(client: AsyncTestClient[Any], db: Any, vendor: Any) -> tuple[Any, str, dict, dict]:
    """A signed-in buyer's intent matched by ``vendor``, with its offer and thread."""
    from tests.helpers import matched, publish

    buyer, csrf = await signed_in(client, email="ada@example.org")
    intent = await publish(client, buyer)
    await matched(db, intent["id"], vendor)
    offer = await client.post(
        f"/v1/intents/{intent['id']}/offers",
        json={"price": {"amount": "1700", "currency": "EUR"}, "title": "A7 IV"},
        headers=vendor.headers,
    )
    assert offer.status_code == 201, offer.text
    thread = await client.post(
        f"/v1/intents/{intent['id']}/threads", json={"body": "Hello!"}, headers=vendor.headers
    )
    assert thread.status_code == 201, thread.text
    return buyer, csrf, intent, {"offer": offer.json(), "thread": thread.json()}


async def test_offers_fragment_ranks_and_accept_pins_the_version(client, db, vendor) -> None:
    _, csrf, intent, made = await deal(client, db, vendor)
    offer = made["offer"]
    fragment = await client.get(f"/intents/{intent['id']}/offers?sort=newest")
    assert fragment.status_code == 200 and "1700" in fragment.text
    assert "Accept version 1" in fragment.text
    revised = await client.patch(
        f"/v1/offers/{offer['id']}",
        json={"price": {"amount": "1750", "currency": "EUR"}},
        headers=vendor.headers,
    )
    assert revised.json()["version"] == 2
    stale = await client.post(
        f"/offers/{offer['id']}/accept", data={"version": "1", "_csrf_token": csrf}
    )
    assert stale.status_code == 409
    assert "revised since you saw it" in stale.text
    accepted = await client.post(
        f"/offers/{offer['id']}/accept",
        data={"version": "2", "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert accepted.status_code == 303
    assert accepted.headers["location"] == f"/intents/{intent['id']}?done=accepted"
    status = await client.get(f"/v1/offers/{offer['id']}", headers=vendor.headers)
    assert status.json()["status"] == "accepted"


async def test_chat_reveal_ledger_revoke_export_delete(client, db, vendor) -> None:
    buyer, csrf, intent, made = await deal(client, db, vendor)
    thread_id = made["thread"]["id"]
    chat = await client.get(f"/threads/{thread_id}")
    assert chat.status_code == 200 and "Hello!" in chat.text
    sent = await client.post(
        f"/threads/{thread_id}/messages",
        data={"body": f"Call me: {PHONE}", "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    fragment = await client.get(f"/threads/{thread_id}/messages")
    assert "The vendor sees: Call me: [phone removed]" in fragment.text
    empty = await client.post(
        f"/threads/{thread_id}/messages", data={"body": "", "_csrf_token": csrf}
    )
    assert empty.status_code == 422 and "1 to 5,000 characters" in empty.text

    none_chosen = await client.post(
        f"/intents/{intent['id']}/reveals", data={"vendor_id": vendor.id, "_csrf_token": csrf}
    )
    assert none_chosen.status_code == 422 and "choose at least one" in none_chosen.text
    revealed = await client.post(
        f"/intents/{intent['id']}/reveals",
        data={"vendor_id": vendor.id, "fields": "email", "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert revealed.status_code == 303
    page = await client.get(f"/intents/{intent['id']}")
    assert "waiting for the vendor to accept your terms" in page.text
    reveal_id = (await client.get("/v1/me/disclosures", headers=buyer.headers)).json()["items"][0][
        "reveal_id"
    ]
    terms = await client.post(
        f"/v1/vendor/reveals/{reveal_id}/accept-terms", headers=vendor.headers
    )
    assert terms.status_code == 200
    assert "accepted your terms" in (await client.get(f"/intents/{intent['id']}")).text

    ledger = await client.get("/ledger")
    assert ledger.text.count('data-testid="ledger-entry"') == 2
    assert "Revoke email from" in ledger.text
    revoke = await client.post(
        f"/reveals/{reveal_id}/revoke", data={"_csrf_token": csrf}, follow_redirects=False
    )
    assert revoke.status_code == 303
    read = await client.get(f"/v1/vendor/reveals/{reveal_id}", headers=vendor.headers)
    assert read.status_code == 410
    assert "Revoke email from" not in (await client.get("/ledger")).text

    export = await client.get("/account/export")
    assert export.status_code == 200
    assert export.headers["content-disposition"].startswith("attachment")
    document = export.json()
    assert document["buyer"]["email"] == "ada@example.org"
    assert document["reveals"][0]["status"] == "revoked"

    unconfirmed = await client.post("/account/delete", data={"confirm": "", "_csrf_token": csrf})
    assert unconfirmed.status_code == 422
    deleted = await client.post("/account/delete", data={"confirm": "delete", "_csrf_token": csrf})
    assert deleted.status_code == 200 and "Your account is deleted" in deleted.text
    assert (await client.get("/v1/me", headers=buyer.headers)).status_code == 401
    after = await client.get("/intents", follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"].startswith("/signin")


async def test_events_stream_needs_a_signed_in_buyer(client) -> None:
    answer = await client.get("/events", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin"


async def test_decline_and_pause_from_the_intent_page(client, db, vendor) -> None:
    _, csrf, intent, made = await deal(client, db, vendor)
    declined = await client.post(
        f"/offers/{made['offer']['id']}/decline",
        data={"_csrf_token": csrf},
        follow_redirects=False,
    )
    assert declined.status_code == 303
    page = await client.get(declined.headers["location"])
    assert "You declined the offer." in page.text
    assert "declined (version 1)" in page.text
    paused = await client.post(
        f"/intents/{intent['id']}/status", data={"status": "paused", "_csrf_token": csrf}
    )
    assert paused.status_code == 200 and ">paused<" in paused.text
    bad = await client.post(
        f"/intents/{intent['id']}/status", data={"status": "fulfilled", "_csrf_token": csrf}
    )
    assert bad.status_code == 422 and "status" in bad.text
