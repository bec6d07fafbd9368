"""The planted-PII corpus through every vendor channel over HTTP, not only the preview:
the feed (whose event bytes are also what SSE and webhooks carry), the vendor's intent
route, the relay thread and its `message.created` events. Each corpus entry is its own
attribute value or its own message, scrubbed under the entry's region as the buyer's
country, so no entry's context leaks into another's."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.helpers import CAMERA, create_buyer, create_vendor, feed, subscribe

CORPUS = json.loads((Path(__file__).parents[1] / "fixtures" / "pii_corpus.json").read_text())
PER_INTENT = 30  # attributes per intent


def _by_region() -> dict[str | None, list[dict[str, Any]]]:
    groups: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for entry in CORPUS["pii"]:
        groups[entry.get("region")].append(entry)
    return groups


def _leaks(entry: dict[str, Any], shown: str) -> bool:
    if entry["secret"] in shown:
        return True
    if entry["kind"] == "phone":  # however it was reformatted, its last digits must be gone
        return re.sub(r"\D", "", entry["secret"])[-7:] in re.sub(r"\D", "", shown)
    return False


async def test_no_planted_item_reaches_a_vendor_channel(client, db, pipeline) -> None:
    vendor = await create_vendor(client, db)
    await subscribe(client, vendor)
    published: list[tuple[dict[str, Any], dict[str, dict[str, Any]], Any]] = []
    for region, entries in _by_region().items():
        buyer = await create_buyer(client, country=region) if region else await create_buyer(client)
        for start in range(0, len(entries), PER_INTENT):
            chunk = {f"k{i:02d}": e for i, e in enumerate(entries[start : start + PER_INTENT])}
            body = CAMERA | {"attributes": {k: e["text"] for k, e in chunk.items()}}
            body.pop("location")  # the region, when there is one, is the buyer's country
            if region:
                body["location"] = {"country": region}
            response = await client.post("/v1/intents", json=body, headers=buyer.headers)
            assert response.status_code == 201, response.text
            published.append((response.json(), chunk, buyer))
    events = await feed(client, vendor, limit=1000, at_least=len(published))
    views = {e["data"]["intent"]["id"]: e["data"]["intent"] for e in events}
    checked = 0
    for intent, chunk, _ in published:
        direct = await client.get(f"/v1/vendor/intents/{intent['id']}", headers=vendor.headers)
        assert direct.status_code == 200
        for view in (views[intent["id"]], direct.json()):
            for key, entry in chunk.items():
                shown = json.dumps(view["attributes"].get(key), ensure_ascii=False)
                assert not _leaks(entry, shown), (entry, shown)
                checked += 1
    assert checked == 2 * len(CORPUS["pii"])

    # the relay: every entry as its own message, under its region's buyer
    threads: dict[str, str] = {}
    for intent, chunk, buyer in published:
        if buyer.id not in threads:
            opened = await client.post(
                f"/v1/intents/{intent['id']}/threads", json={"body": "Hi"}, headers=vendor.headers
            )
            assert opened.status_code == 201, opened.text
            threads[buyer.id] = opened.json()["id"]
        for entry in chunk.values():
            sent = await client.post(
                f"/v1/threads/{threads[buyer.id]}/messages",
                json={"body": entry["text"]},
                headers=buyer.headers,
            )
            assert sent.status_code == 201, sent.text
            assert not _leaks(entry, sent.json()["shown_to_vendor"]), entry
    seen = 0
    texts = {e["text"]: e for e in CORPUS["pii"]}
    for thread_id in threads.values():
        view = (await client.get(f"/v1/threads/{thread_id}", headers=vendor.headers)).json()
        buyer_messages = [m for m in view["messages"] if m["sender"] == "buyer"]
        seen += len(buyer_messages)
        for message in buyer_messages:
            assert not any(_leaks(e, message["body"]) for e in texts.values()), message
    assert seen == len(CORPUS["pii"])
    relayed = [
        e["data"]["message"]["body"]
        for e in await feed(client, vendor, limit=1000)
        if e["type"] == "message.created"
    ]
    assert len(relayed) == len(CORPUS["pii"])
    for body in relayed:
        assert not any(_leaks(e, body) for e in texts.values()), body
