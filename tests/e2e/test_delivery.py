"""A vendor hears of a matching intent on all three channels — feed, SSE and a signed
webhook — with identical payloads, from a real `intentcast serve`; SSE resumes with
Last-Event-ID without gaps or duplicates."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from httpx_sse import aconnect_sse
from standardwebhooks.webhooks import Webhook

from tests.api.test_intents import CAMERA
from tests.e2e.test_serve import Server, assert_all_gone
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data", auto_verify_vendors="true", webhook_allow_loopback="true")
    srv.start()
    yield srv
    assert_all_gone(srv.stop())


async def read_sse(http: httpx.AsyncClient, token: str, n: int, last_event_id: str | None = None):
    headers = {"Authorization": f"Bearer {token}"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    events = []
    async with aconnect_sse(http, "GET", "/v1/vendor/stream", headers=headers) as source:
        async for sse in source.aiter_sse():
            events.append(sse)
            if len(events) == n:
                return events
    return events


async def test_feed_sse_and_webhook_carry_identical_events(server: Server) -> None:
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=30) as http,
        WebhookReceiver() as hook,
    ):
        vendor = (await http.post("/v1/vendors", json={"name": "Foto Huber"})).json()
        other = (await http.post("/v1/vendors", json={"name": "Gartenbau"})).json()
        auth = {"Authorization": f"Bearer {vendor['token']}"}
        other_auth = {"Authorization": f"Bearer {other['token']}"}
        sub = await http.post(
            "/v1/subscriptions", json={"categories": ["electronics"]}, headers=auth
        )
        assert sub.status_code == 201, sub.text
        await http.post(
            "/v1/subscriptions", json={"categories": ["home-services"]}, headers=other_auth
        )
        created = (
            await http.post("/v1/vendor/webhooks", json={"url": hook.url}, headers=auth)
        ).json()
        buyer = (await http.post("/v1/buyers", json={"display_name": "ada"})).json()
        buyer_auth = {"Authorization": f"Bearer {buyer['token']}"}

        sse_task = asyncio.create_task(read_sse(http, vendor["token"], 3))
        await asyncio.sleep(0.5)  # the stream is open before anything happens
        intent = (await http.post("/v1/intents", json=CAMERA, headers=buyer_auth)).json()
        path = f"/v1/intents/{intent['id']}"
        await http.patch(path, json={"title": "Sony A7 IV body"}, headers=buyer_auth)
        await http.patch(path, json={"status": "withdrawn"}, headers=buyer_auth)
        sse_events = await asyncio.wait_for(sse_task, 20)
        webhook_requests = await hook.wait_for(3, timeout=20)

        feed = (await http.get("/v1/vendor/matches", headers=auth)).json()["items"]
        assert [e["type"] for e in feed] == ["intent.matched", "intent.updated", "intent.closed"]
        assert [e["seq"] for e in feed] == [1, 2, 3]
        assert [json.loads(s.data) for s in sse_events] == feed
        assert [s.id for s in sse_events] == ["1", "2", "3"]
        assert [s.event for s in sse_events] == [e["type"] for e in feed]
        by_seq = {}
        for request in webhook_requests:
            Webhook(created["secret"]).verify(request.body, request.headers)
            by_seq[json.loads(request.body)["seq"]] = json.loads(request.body)
        assert [by_seq[s] for s in (1, 2, 3)] == feed
        assert feed[0]["data"]["intent"] == intent["vendor_view"]

        # the other vendor heard nothing and cannot read the intent
        assert (await http.get("/v1/vendor/matches", headers=other_auth)).json()["items"] == []
        assert (
            await http.get(f"/v1/vendor/intents/{intent['id']}", headers=other_auth)
        ).status_code == 404

        # resuming after seq 1 replays 2 and 3 exactly once, then continues live
        resumed_task = asyncio.create_task(read_sse(http, vendor["token"], 3, last_event_id="1"))
        await asyncio.sleep(0.5)
        second = (await http.post("/v1/intents", json=CAMERA, headers=buyer_auth)).json()
        resumed = await asyncio.wait_for(resumed_task, 20)
        assert [s.id for s in resumed] == ["2", "3", "4"]
        assert json.loads(resumed[2].data)["data"]["intent"]["id"] == second["id"]
