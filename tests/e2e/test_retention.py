"""The retention purge on a real `intentcast serve` with ``INTENTCAST_RETENTION_DAYS=0``: a
withdrawn intent loses its text, and its thread's messages their bodies, at the scheduler's
next pass — no request asks for it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from intentcast.domain.data_rights import PURGED
from tests.e2e.conftest import Server
from tests.helpers import create_buyer, create_vendor, feed, publish, subscribe, types, wait_for

pytestmark = pytest.mark.e2e

SCHEDULER_PASS_S = 60.0
"""The promise: purged within a minute of becoming due."""


@pytest.fixture
def server(make_server) -> Server:
    srv = make_server(auto_verify_vendors="true", retention_days="0")
    srv.start()
    return srv


async def test_a_closed_intent_is_purged_without_a_request(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        buyer = await create_buyer(http, email="ada@example.org", country="DE")
        vendor = await create_vendor(http)
        await subscribe(http, vendor)
        intent = await publish(http, buyer, description="Write to ada@example.org, velvet-otter")
        iid = intent["id"]
        await feed(http, vendor, until=lambda items: "intent.matched" in types(items), within=20)
        opened = await http.post(
            f"/v1/intents/{iid}/threads", json={"body": "Still looking?"}, headers=vendor.headers
        )
        assert opened.status_code == 201, opened.text
        thread_id = opened.json()["id"]
        reply = await http.post(
            f"/v1/threads/{thread_id}/messages",
            json={"body": "Yes, velvet-otter"},
            headers=buyer.headers,
        )
        assert reply.status_code == 201, reply.text
        withdrawn = await http.patch(
            f"/v1/intents/{iid}", json={"status": "withdrawn"}, headers=buyer.headers
        )
        assert withdrawn.status_code == 200
        # vendors hear the intent close (the matcher had it before the purge)
        await feed(http, vendor, until=lambda items: "intent.closed" in types(items), within=20)

        # From here only reads: the scheduler purges on its own.
        async def purged() -> dict[str, Any] | None:
            view = await http.get(f"/v1/vendor/intents/{iid}", headers=vendor.headers)
            assert view.status_code == 200, view.text
            return view.json() if view.json()["title"] == PURGED else None

        view = await wait_for(purged, within=SCHEDULER_PASS_S, interval=0.5)
        assert view["description"] is None and view["attributes"] == {}
        thread = (await http.get(f"/v1/threads/{thread_id}", headers=vendor.headers)).json()
        assert [m["body"] for m in thread["messages"]] == [PURGED, PURGED]
        mine = (await http.get(f"/v1/intents/{iid}", headers=buyer.headers)).json()
        assert mine["title"] == PURGED and mine["description"] is None
        events = await http.get("/v1/vendor/matches", headers=vendor.headers)
        assert "velvet-otter" not in events.text
