"""k-anonymous casting on a real `intentcast serve` with the product default (k = 3, no
``INTENTCAST_K_ANONYMITY`` given): a lone intent in an empty market reaches a vendor's feed and
webhook generalised, the third of three similar intents from three buyers at the requested
precision, and each buyer's preview says which it will be."""

from __future__ import annotations

import json

import h3
import httpx
import pytest

from tests.e2e.conftest import Server
from tests.helpers import CAMERA, create_buyer, create_vendor, feed, publish, subscribe
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

MUNICH = (48.137154, 11.576124)


@pytest.fixture
def server(make_server) -> Server:
    # k_anonymity="3" restates the product default over the harness's k = 1
    srv = make_server(auto_verify_vendors="true", webhook_allow_loopback="true", k_anonymity="3")
    srv.start()
    return srv


async def test_lone_intents_are_generalised_until_three_buyers_share_them(
    server: Server,
) -> None:
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=30) as http,
        WebhookReceiver() as hook,
    ):
        vendor = await create_vendor(http, name="Foto Huber")
        await subscribe(http, vendor)  # electronics/cameras
        answer = await http.post(
            "/v1/vendor/webhooks", json={"url": hook.url}, headers=vendor.headers
        )
        assert answer.status_code == 201, answer.text
        buyers = [await create_buyer(http, display_name=f"b{n}") for n in range(3)]
        previews, intents = [], []
        for buyer in buyers:
            preview = await http.post("/v1/intents/preview", json=CAMERA, headers=buyer.headers)
            assert preview.status_code == 200, preview.text
            previews.append(preview.json())
            intents.append(await publish(http, buyer))
        assert [p["generalised"] for p in previews] == [True, True, False]
        assert [i["vendor_view"]["generalised"] for i in intents] == [True, True, False]

        events = await feed(http, vendor, at_least=3)
        shown = [e["data"]["intent"] for e in events]
        assert [s["id"] for s in shown] == [i["id"] for i in intents]
        lone, third = shown[0], shown[2]
        assert lone["category"] == "electronics" and lone["generalised"] is True
        assert lone["location"] == {"cell": None, "resolution": None, "country": "DE"}
        assert third["category"] == CAMERA["category"] and third["generalised"] is False
        cell = h3.latlng_to_cell(*MUNICH, 7)  # precision 9, the default floor 7
        assert third["location"] == {"cell": cell, "resolution": 7, "country": "DE"}
        # each preview showed what vendors then saw of that intent
        for preview, seen in zip(previews, shown, strict=True):
            for field in ("category", "location", "generalised", "title"):
                assert preview["vendor_view"][field] == seen[field]
        # the webhook carries the same views
        requests = await hook.wait_for(3, timeout=30)
        by_seq = {body["seq"]: body["data"]["intent"] for body in map(_json, requests)}
        assert by_seq[1] == lone and by_seq[3] == third


def _json(request: object) -> dict:
    return json.loads(request.body)  # type: ignore[attr-defined]
