"""A full deal through the HTTP API of a real `intentcast serve`: publish → vendors matched →
offers → the buyer sees them live on SSE → relay Q&A (the buyer's phone number scrubbed)
→ reveal e-mail to vendor A only → A accepts the terms and reads it, and sees e-mail
addresses (not the phone number) in the buyer's messages; B reads nothing → the buyer
accepts A's offer → B's offer declined and B told the intent closed → rating; every
receipt verifies with the published key."""

from __future__ import annotations

import asyncio
import copy
import json
from contextlib import aclosing

import httpx
import pytest
from httpx_sse import aconnect_sse

from intentcast.domain.receipts import public_key_from_jwk, verify_receipt
from tests.e2e.conftest import LIVE_WITHIN_S, Server, next_event
from tests.helpers import create_buyer, create_vendor, feed, publish, subscribe, types

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(make_server) -> Server:
    srv = make_server(auto_verify_vendors="true")
    srv.start()
    return srv


async def test_a_full_deal(server: Server) -> None:
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        buyer = await create_buyer(
            http,
            display_name="ada",
            email="ada@example.org",
            phone="+49 170 1234567",
            name="Ada Lovelace",
            country="DE",
        )
        a = await create_vendor(http, name="Foto Huber")
        b = await create_vendor(http, name="Kamera Meyer")
        for v in (a, b):
            await subscribe(http, v, categories=["electronics"])
        intent = await publish(http, buyer)
        iid = intent["id"]
        for v in (a, b):
            await feed(http, v, until=lambda items: "intent.matched" in types(items), within=20)

        # offers, seen live by the buyer
        async with (
            aconnect_sse(http, "GET", "/v1/me/stream", headers=buyer.headers) as source,
            aclosing(source.aiter_sse()) as events,
        ):
            offer_a = (
                await http.post(
                    f"/v1/intents/{iid}/offers",
                    headers=a.headers,
                    json={
                        "price": {"amount": "1649.00", "currency": "EUR"},
                        "title": "A7 IV, new, 3y warranty",
                        "delivery_days": 2,
                    },
                )
            ).json()
            # A's offer comes live or, had the stream not been listening yet, replayed:
            # either way the stream is established once it is here
            first = await next_event(events, loop.time() + 20, event="offer.created")
            live_until = loop.time() + LIVE_WITHIN_S
            offer_b = (
                await http.post(
                    f"/v1/intents/{iid}/offers",
                    headers=b.headers,
                    json={
                        "price": {"amount": "1599.00", "currency": "EUR"},
                        "title": "A7 IV, new",
                    },
                )
            ).json()
            # B's offer is made after that, so only the live path can bring it this soon
            second = await next_event(events, live_until, event="offer.created")
        seen = [json.loads(first.data), json.loads(second.data)]
        assert [e["data"]["offer"]["id"] for e in seen] == [offer_a["id"], offer_b["id"]]
        assert int(second.id) > int(first.id)
        listed = (
            await http.get(f"/v1/intents/{iid}/offers?sort=price", headers=buyer.headers)
        ).json()
        assert [o["id"] for o in listed["items"]] == [offer_b["id"], offer_a["id"]]
        # sealed: A never sees B's offer
        assert (await http.get(f"/v1/offers/{offer_b['id']}", headers=a.headers)).status_code == 404
        assert (await http.get(f"/v1/intents/{iid}/offers", headers=a.headers)).status_code == 403

        # relay: A asks, the buyer answers with a phone number, scrubbed for A
        thread = (
            await http.post(
                f"/v1/intents/{iid}/threads",
                headers=a.headers,
                json={"body": "Would you like the L-bracket too?"},
            )
        ).json()
        answer = await http.post(
            f"/v1/threads/{thread['id']}/messages",
            headers=buyer.headers,
            json={"body": "Yes please, call me on +49 170 1234567"},
        )
        assert answer.status_code == 201
        as_a = (await http.get(f"/v1/threads/{thread['id']}", headers=a.headers)).json()
        assert "1234567" not in json.dumps(as_a)
        assert "[phone removed]" in as_a["messages"][-1]["body"]
        as_buyer = (await http.get(f"/v1/threads/{thread['id']}", headers=buyer.headers)).json()
        assert as_buyer["messages"][-1]["body"].endswith("+49 170 1234567")

        # reveal the e-mail to A only
        reveal = (
            await http.post(
                f"/v1/intents/{iid}/reveals",
                headers=buyer.headers,
                json={"vendor_id": a.id, "fields": ["email"]},
            )
        ).json()
        path = f"/v1/vendor/reveals/{reveal['id']}"
        assert (await http.get(path, headers=a.headers)).status_code == 409  # terms first
        assert (await http.post(path + "/accept-terms", headers=a.headers)).status_code == 200
        read = (await http.get(path, headers=a.headers)).json()
        assert read["fields"] == {"email": "ada@example.org"}
        assert (await http.get(path, headers=b.headers)).status_code == 404
        b_events = (await http.get("/v1/vendor/matches", headers=b.headers)).json()["items"]
        assert "ada@example.org" not in json.dumps(b_events)
        # after revealing the e-mail, A sees e-mail addresses in the buyer's messages, and
        # still not the phone number, which was not revealed
        await http.post(
            f"/v1/threads/{thread['id']}/messages",
            headers=buyer.headers,
            json={"body": "Mail ada@example.org, or call +49 170 1234567 after six"},
        )
        as_a = (await http.get(f"/v1/threads/{thread['id']}", headers=a.headers)).json()
        assert (
            as_a["messages"][-1]["body"]
            == "Mail ada@example.org, or call [phone removed] after six"
        )

        # accept A's offer: B is declined and told the intent closed
        accepted = await http.post(
            f"/v1/offers/{offer_a['id']}/accept", headers=buyer.headers, json={}
        )
        assert accepted.status_code == 200 and accepted.json()["intent_status"] == "fulfilled"
        b_items = await feed(
            http,
            b,
            until=lambda items: {"offer.declined", "intent.closed"} <= set(types(items)),
            within=20,
        )
        a_items = await feed(
            http,
            a,
            until=lambda items: {"offer.accepted", "intent.closed"} <= set(types(items)),
            within=20,
        )
        assert "reveal.granted" in {e["type"] for e in a_items}
        assert "reveal.granted" not in {e["type"] for e in b_items}
        assert (await http.get(f"/v1/offers/{offer_b['id']}", headers=b.headers)).json()[
            "status"
        ] == "declined"

        # rating, once
        rated = await http.post(
            f"/v1/offers/{offer_a['id']}/rating",
            headers=buyer.headers,
            json={"stars": 5, "comment": "Fast, mail me at ada@example.org"},
        )
        assert rated.status_code == 201 and "ada@example.org" not in rated.json()["comment"]
        again = await http.post(
            f"/v1/offers/{offer_a['id']}/rating", headers=buyer.headers, json={"stars": 1}
        )
        assert again.status_code == 409
        profile = (await http.get(f"/v1/vendors/{a.id}")).json()
        assert (
            profile["reputation"]["rating_average"] == 5.0
            and profile["reputation"]["rating_count"] == 1
        )
        assert profile["reputation"]["offer_rate"] == 1.0

        # the ledger: every receipt verifies offline; a tampered one does not
        jwk = (await http.get("/v1/receipts/public-key")).json()
        key = public_key_from_jwk(jwk)
        ledger = (await http.get("/v1/me/disclosures", headers=buyer.headers)).json()["items"]
        assert [d["receipt"]["kind"] for d in ledger] == ["terms_accepted", "reveal"]
        for entry in ledger:
            assert verify_receipt(key, entry["receipt"], entry["signature"])
            assert entry["receipt"]["vendor_name"] == "Foto Huber"
            assert entry["receipt"]["fields"] == ["email"]
            assert buyer.id not in json.dumps(entry["receipt"])
        forged = copy.deepcopy(ledger[0]["receipt"])
        forged["fields"] = ["email", "phone"]
        assert not verify_receipt(key, forged, ledger[0]["signature"])

        # revocation takes effect on the very next read
        assert (
            await http.delete(f"/v1/reveals/{reveal['id']}", headers=buyer.headers)
        ).status_code == 204
        assert (await http.get(path, headers=a.headers)).status_code == 410
        ledger = (await http.get("/v1/me/disclosures", headers=buyer.headers)).json()["items"]
        assert ledger[0]["receipt"]["kind"] == "revoke" and not ledger[0]["active"]
        assert all(verify_receipt(key, d["receipt"], d["signature"]) for d in ledger)
