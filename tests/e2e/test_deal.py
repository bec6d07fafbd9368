"""A full deal through the HTTP API of a real `intentcast serve`: publish → vendors matched →
offers → the buyer sees them live on SSE → relay Q&A (the buyer's phone number scrubbed
before a reveal, kept after) → reveal e-mail to vendor A only → A accepts the terms and
reads it; B reads nothing → the buyer accepts A's offer → B's offer declined and B told the
intent closed → rating; every receipt verifies with the published key."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from httpx_sse import aconnect_sse

from intentcast.domain.receipts import public_key_from_jwk, verify_receipt
from tests.api.test_intents import CAMERA
from tests.e2e.test_serve import Server, assert_all_gone

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data", auto_verify_vendors="true")
    srv.start()
    yield srv
    assert_all_gone(srv.stop())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sse_events(http, token, types, n):
    found = []
    async with aconnect_sse(http, "GET", "/v1/me/stream", headers=bearer(token)) as source:
        async for sse in source.aiter_sse():
            if sse.event in types:
                found.append(json.loads(sse.data))
                if len(found) == n:
                    return found
    return found


async def wait_feed(http, vendor, predicate, within=20.0):
    deadline = asyncio.get_running_loop().time() + within
    while True:
        items = (await http.get("/v1/vendor/matches", headers=bearer(vendor["token"]))).json()[
            "items"
        ]
        if predicate(items):
            return items
        assert asyncio.get_running_loop().time() < deadline, items
        await asyncio.sleep(0.1)


async def test_a_full_deal(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        buyer = (
            await http.post(
                "/v1/buyers",
                json={
                    "display_name": "ada",
                    "email": "ada@example.org",
                    "phone": "+49 170 1234567",
                    "name": "Ada Lovelace",
                    "country": "DE",
                },
            )
        ).json()
        a = (await http.post("/v1/vendors", json={"name": "Foto Huber"})).json()
        b = (await http.post("/v1/vendors", json={"name": "Kamera Meyer"})).json()
        for v in (a, b):
            r = await http.post(
                "/v1/subscriptions",
                json={"categories": ["electronics"]},
                headers=bearer(v["token"]),
            )
            assert r.status_code == 201
        intent = (
            await http.post("/v1/intents", json=CAMERA, headers=bearer(buyer["token"]))
        ).json()
        iid = intent["id"]
        for v in (a, b):
            await wait_feed(
                http, v, lambda items: any(e["type"] == "intent.matched" for e in items)
            )

        # offers, seen live by the buyer
        live = asyncio.create_task(sse_events(http, buyer["token"], {"offer.created"}, 2))
        await asyncio.sleep(0.5)
        offer_a = (
            await http.post(
                f"/v1/intents/{iid}/offers",
                headers=bearer(a["token"]),
                json={
                    "price": {"amount": "1649.00", "currency": "EUR"},
                    "title": "A7 IV, new, 3y warranty",
                    "delivery_days": 2,
                },
            )
        ).json()
        offer_b = (
            await http.post(
                f"/v1/intents/{iid}/offers",
                headers=bearer(b["token"]),
                json={"price": {"amount": "1599.00", "currency": "EUR"}, "title": "A7 IV, new"},
            )
        ).json()
        seen = await asyncio.wait_for(live, 15)
        assert {e["data"]["offer"]["id"] for e in seen} == {offer_a["id"], offer_b["id"]}
        listed = (
            await http.get(f"/v1/intents/{iid}/offers?sort=price", headers=bearer(buyer["token"]))
        ).json()
        assert [o["id"] for o in listed["items"]] == [offer_b["id"], offer_a["id"]]
        # sealed: A never sees B's offer
        assert (
            await http.get(f"/v1/offers/{offer_b['id']}", headers=bearer(a["token"]))
        ).status_code == 404
        assert (
            await http.get(f"/v1/intents/{iid}/offers", headers=bearer(a["token"]))
        ).status_code == 403

        # relay: A asks, the buyer answers with a phone number, scrubbed for A
        thread = (
            await http.post(
                f"/v1/intents/{iid}/threads",
                headers=bearer(a["token"]),
                json={"body": "Would you like the L-bracket too?"},
            )
        ).json()
        answer = await http.post(
            f"/v1/threads/{thread['id']}/messages",
            headers=bearer(buyer["token"]),
            json={"body": "Yes please, call me on +49 170 1234567"},
        )
        assert answer.status_code == 201
        as_a = (await http.get(f"/v1/threads/{thread['id']}", headers=bearer(a["token"]))).json()
        assert "1234567" not in json.dumps(as_a)
        assert "[phone removed]" in as_a["messages"][-1]["body"]
        as_buyer = (
            await http.get(f"/v1/threads/{thread['id']}", headers=bearer(buyer["token"]))
        ).json()
        assert as_buyer["messages"][-1]["body"].endswith("+49 170 1234567")

        # reveal the e-mail to A only
        reveal = (
            await http.post(
                f"/v1/intents/{iid}/reveals",
                headers=bearer(buyer["token"]),
                json={"vendor_id": a["vendor"]["id"], "fields": ["email"]},
            )
        ).json()
        path = f"/v1/vendor/reveals/{reveal['id']}"
        assert (await http.get(path, headers=bearer(a["token"]))).status_code == 409  # terms first
        assert (
            await http.post(path + "/accept-terms", headers=bearer(a["token"]))
        ).status_code == 200
        read = (await http.get(path, headers=bearer(a["token"]))).json()
        assert read["fields"] == {"email": "ada@example.org"}
        assert (await http.get(path, headers=bearer(b["token"]))).status_code == 404
        b_events = (await http.get("/v1/vendor/matches", headers=bearer(b["token"]))).json()[
            "items"
        ]
        assert "ada@example.org" not in json.dumps(b_events)
        # after the reveal, the buyer's number reaches A unscrubbed
        await http.post(
            f"/v1/threads/{thread['id']}/messages",
            headers=bearer(buyer["token"]),
            json={"body": "Or on +49 170 1234567 after six"},
        )
        as_a = (await http.get(f"/v1/threads/{thread['id']}", headers=bearer(a["token"]))).json()
        assert as_a["messages"][-1]["body"] == "Or on +49 170 1234567 after six"

        # accept A's offer: B is declined and told the intent closed
        accepted = await http.post(
            f"/v1/offers/{offer_a['id']}/accept", headers=bearer(buyer["token"]), json={}
        )
        assert accepted.status_code == 200 and accepted.json()["intent_status"] == "fulfilled"
        b_items = await wait_feed(
            http, b, lambda items: {"offer.declined", "intent.closed"} <= {e["type"] for e in items}
        )
        a_items = await wait_feed(
            http, a, lambda items: {"offer.accepted", "intent.closed"} <= {e["type"] for e in items}
        )
        assert "reveal.granted" in {e["type"] for e in a_items}
        assert "reveal.granted" not in {e["type"] for e in b_items}
        assert (await http.get(f"/v1/offers/{offer_b['id']}", headers=bearer(b["token"]))).json()[
            "status"
        ] == "declined"

        # rating, once
        rated = await http.post(
            f"/v1/offers/{offer_a['id']}/rating",
            headers=bearer(buyer["token"]),
            json={"stars": 5, "comment": "Fast, mail me at ada@example.org"},
        )
        assert rated.status_code == 201 and "ada@example.org" not in rated.json()["comment"]
        again = await http.post(
            f"/v1/offers/{offer_a['id']}/rating", headers=bearer(buyer["token"]), json={"stars": 1}
        )
        assert again.status_code == 409
        profile = (await http.get(f"/v1/vendors/{a['vendor']['id']}")).json()
        assert (
            profile["reputation"]["rating_average"] == 5.0
            and profile["reputation"]["rating_count"] == 1
        )
        assert profile["reputation"]["offer_rate"] == 1.0

        # the ledger: every receipt verifies offline; a tampered one does not
        jwk = (await http.get("/v1/receipts/public-key")).json()
        key = public_key_from_jwk(jwk)
        ledger = (await http.get("/v1/me/disclosures", headers=bearer(buyer["token"]))).json()[
            "items"
        ]
        assert [d["receipt"]["kind"] for d in ledger] == ["terms_accepted", "reveal"]
        for entry in ledger:
            assert verify_receipt(key, entry["receipt"], entry["signature"])
            assert entry["receipt"]["vendor_name"] == "Foto Huber"
            assert entry["receipt"]["fields"] == ["email"]
            assert buyer["buyer"]["id"] not in json.dumps(entry["receipt"])
        forged = copy.deepcopy(ledger[0]["receipt"])
        forged["fields"] = ["email", "phone"]
        assert not verify_receipt(key, forged, ledger[0]["signature"])

        # revocation takes effect on the very next read
        assert (
            await http.delete(f"/v1/reveals/{reveal['id']}", headers=bearer(buyer["token"]))
        ).status_code == 204
        assert (await http.get(path, headers=bearer(a["token"]))).status_code == 410
        ledger = (await http.get("/v1/me/disclosures", headers=bearer(buyer["token"]))).json()[
            "items"
        ]
        assert ledger[0]["receipt"]["kind"] == "revoke" and not ledger[0]["active"]
        assert all(verify_receipt(key, d["receipt"], d["signature"]) for d in ledger)
