"""``intentcast.mcp.tools`` against a scripted API (httpx ``MockTransport``): argument
checking, the preview-before-publish rule, the comparison's order and picks, and proposals
that never call accept or reveal."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from intentcast.client import AsyncClient, RetryPolicy
from intentcast.mcp.tools import TOOLS, Toolbox, ToolRefused
from tests.helpers import CAMERA

NOW = "2026-11-27T00:00:00Z"


def offer(
    offer_id: str,
    amount: str,
    *,
    currency: str = "EUR",
    rating: float | None = None,
    days: int | None = None,
    status: str = "live",
) -> dict[str, Any]:
    return {
        "id": offer_id,
        "intent_id": "int_1",
        "vendor_id": f"ven_{offer_id}",
        "status": status,
        "version": 1,
        "price": {"amount": amount, "currency": currency},
        "quantity": 1,
        "title": f"offer {offer_id}",
        "details": None,
        "valid_until": None,
        "delivery_days": days,
        "terms": None,
        "created_at": NOW,
        "updated_at": NOW,
        "vendor": {
            "id": f"ven_{offer_id}",
            "name": f"Vendor {offer_id}",
            "website": None,
            "verified": True,
            "rating": {"average": rating, "count": 0 if rating is None else 3},
        },
    }


class ScriptedApi:
    """Answers the offers of ``int_1`` and single offers; records every request."""

    def __init__(self, offers: list[dict[str, Any]]) -> None:
        self.offers = offers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/v1/intents/int_1/offers":
            return httpx.Response(200, json={"items": self.offers, "next": None})
        if path.startswith("/v1/offers/"):
            found = [o for o in self.offers if o["id"] == path.rsplit("/", 1)[1]]
            if found:
                return httpx.Response(200, json=found[0] | {"history": []})
        return httpx.Response(
            404,
            json={"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no"},
            headers={"content-type": "application/problem+json"},
        )


def toolbox(api: ScriptedApi) -> Toolbox:
    client = AsyncClient(
        "http://api.test",
        "icb_x",
        transport=httpx.MockTransport(api),
        retry=RetryPolicy(attempts=1),
    )
    return Toolbox(client, "https://shop.example/")


async def no_human(message: str, url: str) -> str | None:
    return None


def test_every_tool_has_an_object_schema_without_unknown_arguments() -> None:
    for tool in TOOLS:
        schema = tool.input_schema()
        assert schema["type"] == "object", tool.name
        assert schema.get("additionalProperties") is False, tool.name
        json.dumps(schema)


async def test_arguments_are_checked_before_anything_is_sent() -> None:
    api = ScriptedApi([])
    tools = toolbox(api)
    with pytest.raises(ToolRefused, match=r"invalid arguments.*intent_id"):
        await tools.call("get_intent", {}, no_human)
    with pytest.raises(ToolRefused, match="invalid arguments"):
        await tools.call("get_intent", {"intent_id": "int_1", "extra": 1}, no_human)
    with pytest.raises(ToolRefused, match="no tool named"):
        await tools.call("accept_offer", {"offer_id": "off_1"}, no_human)
    with pytest.raises(ToolRefused, match="preview this exact draft"):
        await tools.call("publish_intent", {"draft": CAMERA, "confirm_redactions": True}, no_human)
    assert api.requests == []


async def test_compare_orders_and_picks() -> None:
    api = ScriptedApi(
        [
            offer("a", "1700.00", rating=4.0, days=5),
            offer("b", "1599.50", rating=None, days=None),
            offer("c", "1650", rating=4.8, days=1),
        ]
    )
    tools = toolbox(api)
    by_price = await tools.call("compare_offers", {"intent_id": "int_1"}, no_human)
    assert [r["offer_id"] for r in by_price["offers"]] == ["b", "c", "a"]
    assert (by_price["cheapest"], by_price["fastest"], by_price["best_rated"]) == ("b", "c", "c")
    by_rating = await tools.call(
        "compare_offers", {"intent_id": "int_1", "order_by": "rating"}, no_human
    )
    assert [r["offer_id"] for r in by_rating["offers"]] == ["c", "a", "b"]
    by_days = await tools.call(
        "compare_offers", {"intent_id": "int_1", "order_by": "delivery_days"}, no_human
    )
    assert [r["offer_id"] for r in by_days["offers"]] == ["c", "a", "b"]
    assert api.requests[0].url.params.get_list("status") == ["live", "accepted"]


async def test_mixed_currencies_name_no_cheapest() -> None:
    api = ScriptedApi([offer("a", "10", currency="EUR"), offer("b", "9", currency="CHF")])
    compared = await toolbox(api).call("compare_offers", {"intent_id": "int_1"}, no_human)
    assert "cheapest" not in compared
    assert "CHF, EUR" in compared["note"]


async def test_a_proposal_only_asks_the_human() -> None:
    api = ScriptedApi([offer("a", "10"), offer("d", "12", status="declined")])
    asked: list[tuple[str, str]] = []

    async def human(message: str, url: str) -> str | None:
        asked.append((message, url))
        return "accept"

    tools = toolbox(api)
    proposal = await tools.call("propose_acceptance", {"offer_id": "a"}, human)
    assert proposal["accepted"] is False
    assert proposal["confirm_url"] == "https://shop.example/intents/int_1#offer-a"
    assert [url for _, url in asked] == [proposal["confirm_url"]]
    with pytest.raises(ToolRefused, match="is declined"):
        await tools.call("propose_acceptance", {"offer_id": "d"}, human)
    with pytest.raises(ToolRefused, match="404"):
        await tools.call("propose_acceptance", {"offer_id": "zzz"}, human)
    assert all(r.method == "GET" for r in api.requests)
