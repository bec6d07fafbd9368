"""``intentcast.client`` against the real app (PostgreSQL, Redis, the matcher): a whole deal
through the client only, pagination, problem errors, webhook verification of a real
delivery, and every OpenAPI operation having a client method. Retries are checked over
``httpx.MockTransport``; the SSE stream, the sync client and the README's example against
a real ``intentcast api`` process (``test_client_live.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest

from intentcast.api.intents import BuyerIntent
from intentcast.api.vendor import VendorEvent
from intentcast.client import (
    AsyncClient,
    Client,
    Conflict,
    NotFound,
    ProblemError,
    RateLimited,
    RetryPolicy,
    ServerError,
    ValidationFailed,
    WebhookVerificationError,
    verify_webhook,
)
from intentcast.client._endpoints import Resource, operations
from intentcast.services.offers import BuyerOfferView
from tests.api.inprocess import committed_openapi
from tests.api.inprocess import operations as openapi_operations
from tests.helpers import CAMERA, create_operator, wait_for
from tests.webhook_receiver import WebhookReceiver

TOKEN_PREFIXES = {"Buyer": "/v1/me/tokens", "Vendor": "/v1/vendor/tokens"}
OFFER = {"price": {"amount": "1649.00", "currency": "EUR"}, "title": "Sony A7 IV, new"}


def client_operations() -> set[tuple[str, str, str]]:
    """(operationId, method, path) of every client method; the token routes are one method
    under two prefixes."""
    client = Client("http://test")
    resources = [v for v in vars(client).values() if isinstance(v, Resource)]
    resources += [client.buyer.tokens, client.vendor.tokens]
    found = set()
    for resource in {type(r) for r in resources}:
        for op in operations(resource):
            for operation_id in op.operation_id.split("|"):
                role = "Buyer" if "Buyer" in operation_id else "Vendor"
                path = op.path.replace("{prefix}", TOKEN_PREFIXES[role])
                found.add((operation_id, op.method, path))
    return found


def test_every_openapi_operation_has_a_client_method() -> None:
    documented = {
        (op.operation_id, op.method, op.path) for op in openapi_operations(committed_openapi())
    }
    assert client_operations() == documented


async def signed_up(anonymous: AsyncClient, db: asyncpg.Connection) -> tuple[AsyncClient, ...]:
    """A buyer, a vendor verified by an operator, and the operator: each a client."""
    buyer = await anonymous.accounts.create_buyer(
        {"display_name": "ada", "email": "ada@example.org", "country": "DE"}
    )
    vendor = await anonymous.accounts.create_vendor({"name": "Kamera Express"})
    operator = anonymous.with_token((await create_operator(db)).token)
    verified = await operator.admin.verify_vendor(vendor.vendor.id, reason="checked")
    assert verified.status == "verified"
    return (
        anonymous.with_token(buyer.token),
        anonymous.with_token(vendor.token),
        operator,
    )


async def next_events(
    vendor: AsyncClient, after: int, until: Callable[[list[VendorEvent]], bool]
) -> list[VendorEvent]:
    """The vendor's feed after ``after``, read through the client until ``until`` holds."""

    async def read() -> list[VendorEvent] | None:
        events = [event async for event in vendor.vendor.feed(after=after)]
        return events if until(events) else None

    return await wait_for(read, within=20.0)


async def test_buyer_and_vendor_close_a_deal_through_the_client(
    client: Any, db: asyncpg.Connection, make_pipeline: Callable[..., Any]
) -> None:
    await make_pipeline(["matcher"])
    anonymous = AsyncClient(http=client)
    buyer, vendor, operator = await signed_up(anonymous, db)
    subscription = await vendor.subscriptions.create({"categories": ["electronics/cameras"]})
    assert [s.id async for s in vendor.subscriptions.list()] == [subscription.id]

    preview = await buyer.intents.preview(CAMERA)
    assert preview.vendor_view.id is None
    intent = await buyer.intents.publish(CAMERA)
    assert isinstance(intent, BuyerIntent)
    assert intent.status == "open"

    (matched,) = await next_events(vendor, 0, lambda events: len(events) >= 1)
    assert isinstance(matched, VendorEvent)
    assert matched.type == "intent.matched"
    assert matched.data["intent"]["id"] == intent.id
    seen = await vendor.vendor.intent(intent.id)
    assert seen.title == intent.vendor_view.title

    offer = await vendor.offers.create(intent.id, OFFER)
    assert offer.version == 1
    with pytest.raises(Conflict) as twice:
        await vendor.offers.create(intent.id, OFFER)
    assert twice.value.code == "offer-exists"
    thread = await vendor.threads.open(intent.id, "Boxed, with a receipt. Pickup today?")
    await buyer.threads.post(thread.id, "Yes, this afternoon.")
    assert [t.id async for t in buyer.threads.list()] == [thread.id]

    offers = [o async for o in buyer.intents.offers(intent.id, sort="price")]
    assert [o.id for o in offers] == [offer.id]
    assert isinstance(offers[0], BuyerOfferView)
    assert offers[0].vendor.name == "Kamera Express"
    accepted = await buyer.offers.accept(offer.id, reveal_fields=["email"], version=offer.version)
    assert accepted.offer.status == "accepted"
    assert accepted.intent_status == "fulfilled"
    assert accepted.reveal is not None

    events = await next_events(
        vendor, matched.seq, lambda events: "reveal.granted" in {e.type for e in events}
    )
    assert "offer.accepted" in {e.type for e in events}
    await vendor.vendor.accept_terms(accepted.reveal.id)
    revealed = await vendor.vendor.reveal(accepted.reveal.id)
    assert revealed.fields == {"email": "ada@example.org"}

    rating = await buyer.offers.rate(offer.id, 5, "Smooth")
    assert rating.stars == 5
    assert [d.reveal_id async for d in buyer.buyer.disclosures()][-1] == accepted.reveal.id
    exported = await buyer.buyer.export()
    assert [i.id for i in exported.intents] == [intent.id]
    assert (await buyer.intents.get(intent.id)).status == "fulfilled"
    assert [(r.intent.id, r.offers) async for r in operator.admin.intents()] == [(intent.id, 1)]


async def test_lists_follow_the_next_cursor_through_every_page(client: Any) -> None:
    anonymous = AsyncClient(http=client)
    buyer = anonymous.with_token(
        (await anonymous.accounts.create_buyer({"display_name": "ada"})).token
    )
    published = [
        (await buyer.intents.publish(CAMERA | {"title": f"Camera number {n}"})).id for n in range(5)
    ]
    pages: list[str] = []

    async def record(request: httpx.Request) -> None:
        pages.append(str(request.url))

    client.event_hooks["request"].append(record)

    listed = [intent.id async for intent in buyer.intents.list(limit=2)]

    assert listed == published[::-1]  # newest first, none twice, none missing
    assert len(pages) == 3
    assert "after=" not in pages[0] and all("after=" in url for url in pages[1:])


async def test_refusals_raise_problem_errors_with_the_servers_fields(client: Any) -> None:
    anonymous = AsyncClient(http=client)
    buyer = anonymous.with_token(
        (await anonymous.accounts.create_buyer({"display_name": "ada"})).token
    )

    with pytest.raises(NotFound) as missing:
        await buyer.intents.get("int_nope")
    assert missing.value.status == 404
    assert missing.value.code == "not-found"
    assert missing.value.type == "urn:intentcast:problem:not-found"
    assert missing.value.request_id

    with pytest.raises(ValidationFailed) as invalid:
        await buyer.intents.publish(CAMERA | {"category": "no/such/category"})
    assert invalid.value.status == 422
    assert invalid.value.code == "validation-error"
    assert [e["field"] for e in invalid.value.errors] == ["category"]

    with pytest.raises(ProblemError) as unauthorized:
        await anonymous.with_token("icb_wrong").intents.get("int_nope")
    assert (unauthorized.value.status, unauthorized.value.code) == (401, "unauthorized")


async def test_a_real_webhook_delivery_verifies_and_a_tampered_one_does_not(
    client: Any, db: asyncpg.Connection, make_pipeline: Callable[..., Any]
) -> None:
    anonymous = AsyncClient(http=client)
    buyer, vendor, _ = await signed_up(anonymous, db)
    async with WebhookReceiver() as receiver:
        hook = await vendor.webhooks.create(receiver.url, ["intent.matched"])
        await vendor.subscriptions.create({"categories": ["electronics/cameras"]})
        await make_pipeline(["matcher", "delivery"])
        intent = await buyer.intents.publish(CAMERA)
        (delivery,) = await receiver.wait_for(1, timeout=30)

    event = verify_webhook(hook.secret, delivery.headers, delivery.body)
    assert isinstance(event, VendorEvent)
    assert (event.type, event.data["intent"]["id"]) == ("intent.matched", intent.id)
    tampered = delivery.body.replace(intent.id.encode(), b"int_forged")
    with pytest.raises(WebhookVerificationError):
        verify_webhook(hook.secret, delivery.headers, tampered)
    with pytest.raises(WebhookVerificationError):
        verify_webhook("whsec_" + "A" * 44, delivery.headers, delivery.body)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(hook.secret, {}, delivery.body)
    log = [d async for d in vendor.webhooks.deliveries(hook.id)]
    assert [d.event_id for d in log] == [event.id]


# ---- retries, over a scripted transport -------------------------------------------------


class Script:
    """A transport answering from a list of responses, recording every request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def keys(self) -> list[str | None]:
        return [r.headers.get("idempotency-key") for r in self.requests]


def problem(status: int, code: str, **headers: str) -> httpx.Response:
    body = {
        "type": f"urn:intentcast:problem:{code}",
        "title": "x",
        "status": status,
        "detail": code,
        "code": code,
    }
    return httpx.Response(status, json=body, headers={"x-request-id": "req-1", **headers})


NO_JITTER = RetryPolicy(jitter=lambda: 1.0)
"""Waits at their ceiling: 0.5, 1, 2, 4 ... seconds."""


async def test_a_429_waits_retry_after_and_resends_the_same_idempotency_key() -> None:
    script = Script(
        problem(429, "rate-limited", **{"Retry-After": "7"}),
        httpx.Response(202, json={"queued": 3}),
    )
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with AsyncClient(
        "http://test", "icv_x", transport=httpx.MockTransport(script), sleep=sleep, retry=NO_JITTER
    ) as vendor:
        result = await vendor.webhooks.replay("whk_1", after_seq=2)

    assert result.queued == 3
    assert waits == [7.0]
    assert len(script.keys) == 2 and script.keys[0] == script.keys[1] and script.keys[0]
    again = Script(httpx.Response(202, json={"queued": 0}))
    async with AsyncClient("http://test", "icv_x", transport=httpx.MockTransport(again)) as vendor:
        await vendor.webhooks.replay("whk_1", after_seq=2)
    assert again.keys[0] != script.keys[0]  # one key per logical call


def test_gateway_errors_and_dropped_connections_back_off_then_give_up() -> None:
    script = Script(
        problem(502, "bad-gateway"),
        httpx.ConnectError("refused"),
        problem(503, "unavailable"),
        problem(504, "timeout"),
        problem(503, "unavailable"),
    )
    waits: list[float] = []
    with Client(
        "http://test",
        "icb_x",
        transport=httpx.MockTransport(script),
        sleep=waits.append,
        retry=NO_JITTER,
    ) as buyer:
        with pytest.raises(ServerError) as failed:
            buyer.intents.get("int_1")
    assert waits == [0.5, 1.0, 2.0, 4.0]
    assert len(script.requests) == 5
    assert (failed.value.status, failed.value.code, failed.value.request_id) == (
        503,
        "unavailable",
        "req-1",
    )


def test_what_the_server_may_have_done_is_not_sent_twice() -> None:
    """A PATCH has no Idempotency-Key and a sign-up's is not replayed: after a 502 they are
    not retried (a 429 is: the server did nothing)."""
    script = Script(problem(502, "bad-gateway"), problem(502, "bad-gateway"))
    with Client(
        "http://test", "icv_x", transport=httpx.MockTransport(script), sleep=lambda s: None
    ) as vendor:
        with pytest.raises(ServerError):
            vendor.offers.revise("off_1", {"title": "New title"})
        with pytest.raises(ServerError):
            vendor.accounts.create_vendor({"name": "Shop"})
    assert len(script.requests) == 2


def test_a_retry_after_longer_than_the_policy_allows_raises_at_once() -> None:
    script = Script(problem(429, "rate-limited", **{"Retry-After": "3600"}))
    with Client("http://test", "icb_x", transport=httpx.MockTransport(script)) as buyer:
        with pytest.raises(RateLimited) as limited:
            buyer.intents.get("int_1")
    assert limited.value.retry_after == 3600.0
