"""A vendor hears of a matching intent on all three channels — feed, SSE and a signed
webhook — with identical payloads, from a real `intentcast serve`; SSE delivers events live
to an open stream, and resumes with Last-Event-ID without gaps or duplicates."""

from __future__ import annotations

import asyncio
import json
from contextlib import aclosing

import httpx
import pytest
from httpx_sse import aconnect_sse
from standardwebhooks.webhooks import Webhook

from tests.e2e.conftest import LIVE_WITHIN_S, Server, next_event
from tests.helpers import create_buyer, create_vendor, feed, publish, subscribe
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(make_server) -> Server:
    srv = make_server(auto_verify_vendors="true", webhook_allow_loopback="true")
    srv.start()
    return srv


async def test_feed_sse_and_webhook_carry_identical_events(server: Server) -> None:
    loop = asyncio.get_running_loop()
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=30) as http,
        WebhookReceiver() as hook,
    ):
        vendor = await create_vendor(http, name="Foto Huber")
        other = await create_vendor(http, name="Gartenbau")
        await subscribe(http, vendor, categories=["electronics"])
        await subscribe(http, other, categories=["home-services"])
        created = (
            await http.post("/v1/vendor/webhooks", json={"url": hook.url}, headers=vendor.headers)
        ).json()
        buyer = await create_buyer(http, display_name="ada")

        intent = await publish(http, buyer)
        (matched,) = await feed(http, vendor, at_least=1)  # seq 1, logged before the stream
        stream_path = "/v1/vendor/stream"
        async with (
            aconnect_sse(http, "GET", stream_path, headers=vendor.headers) as source,
            aclosing(source.aiter_sse()) as events,
        ):
            # The response headers come before the server subscribes the stream to live
            # events; the first event does not: it is replayed after the subscription.
            first = await next_event(events, loop.time() + LIVE_WITHIN_S)
            assert first.id == str(matched["seq"]) == "1"
            live_until = loop.time() + LIVE_WITHIN_S
            path = f"/v1/intents/{intent['id']}"
            await http.patch(path, json={"title": "Sony A7 IV body"}, headers=buyer.headers)
            await http.patch(path, json={"status": "withdrawn"}, headers=buyer.headers)
            # produced after the stream was established: only the live path brings them
            # before the heartbeat's re-read
            later = [await next_event(events, live_until) for _ in range(2)]
        sse_events = [first, *later]
        assert all(int(e.id) > matched["seq"] for e in later)
        webhook_requests = await hook.wait_for(3, timeout=20)

        feed_items = await feed(http, vendor)
        assert [e["type"] for e in feed_items] == [
            "intent.matched",
            "intent.updated",
            "intent.closed",
        ]
        assert [e["seq"] for e in feed_items] == [1, 2, 3]
        assert [json.loads(s.data) for s in sse_events] == feed_items
        assert [s.id for s in sse_events] == ["1", "2", "3"]
        assert [s.event for s in sse_events] == [e["type"] for e in feed_items]
        by_seq = {}
        for request in webhook_requests:
            Webhook(created["secret"]).verify(request.body, request.headers)
            by_seq[json.loads(request.body)["seq"]] = json.loads(request.body)
        assert [by_seq[s] for s in (1, 2, 3)] == feed_items
        assert feed_items[0]["data"]["intent"] == intent["vendor_view"]

        # the other vendor heard nothing and cannot read the intent (one transaction
        # judged both subscriptions, so the events above prove it was judged)
        assert await feed(http, other) == []
        assert (
            await http.get(f"/v1/vendor/intents/{intent['id']}", headers=other.headers)
        ).status_code == 404

        # resuming after seq 1 replays 2 and 3 exactly once, then continues live
        resume = vendor.headers | {"Last-Event-ID": "1"}
        async with (
            aconnect_sse(http, "GET", stream_path, headers=resume) as source,
            aclosing(source.aiter_sse()) as events,
        ):
            replayed = [await next_event(events, loop.time() + LIVE_WITHIN_S) for _ in range(2)]
            live_until = loop.time() + LIVE_WITHIN_S
            second = await publish(http, buyer)
            live = await next_event(events, live_until)
        assert [s.id for s in replayed] == ["2", "3"]
        assert live.id == "4"
        assert json.loads(live.data)["data"]["intent"]["id"] == second["id"]
