"""The client library's webhook management (get, update, rotate_secret, send_test) and the
buyer's paginated offer list, against the real app, delivery worker and a real receiver."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest

from intentcast.client import AsyncClient, NotFound, ValidationFailed, verify_webhook
from intentcast.services.offers import BuyerOfferView
from tests.helpers import CAMERA, Account, create_operator, matched
from tests.webhook_receiver import WebhookReceiver


async def vendor_client(anonymous: AsyncClient, db: asyncpg.Connection, name: str) -> Any:
    vendor = await anonymous.accounts.create_vendor({"name": name})
    operator = anonymous.with_token((await create_operator(db, name=f"op-{name}")).token)
    await operator.admin.verify_vendor(vendor.vendor.id, reason="checked")
    return anonymous.with_token(vendor.token), vendor.vendor.id


async def test_webhook_management_through_the_client(
    client: Any, db: asyncpg.Connection, make_pipeline: Callable[..., Any]
) -> None:
    await make_pipeline(["delivery"])
    anonymous = AsyncClient(http=client)
    vendor, _ = await vendor_client(anonymous, db, "Kamera Express")
    async with WebhookReceiver() as receiver:
        hook = await vendor.webhooks.create("https://hooks.example.com/in")
        shown = await vendor.webhooks.get(hook.id)
        assert (shown.id, shown.url, shown.status) == (hook.id, hook.url, "active")

        changed = await vendor.webhooks.update(hook.id, url=receiver.url, events=["intent.closed"])
        assert changed.url == receiver.url and changed.events == ["intent.closed"]
        assert (await vendor.webhooks.update(hook.id, events=None)).events is None
        assert (await vendor.webhooks.update(hook.id, {"enabled": False})).status == "disabled"
        assert (await vendor.webhooks.update(hook.id, enabled=True)).status == "active"
        with pytest.raises(ValidationFailed) as refused:
            await vendor.webhooks.update(hook.id, url="https://10.0.0.1/hook")
        assert refused.value.errors[0]["field"] == "url"

        rotated = await vendor.webhooks.rotate_secret(hook.id, grace_period_seconds=600)
        assert rotated.secret != hook.secret and rotated.previous_secret_expires_at is not None
        queued = await vendor.webhooks.send_test(hook.id)
        assert queued.type == "webhook.test"
        (request,) = await receiver.wait_for(1, timeout=20)
    # during the grace period the delivery verifies with either secret
    for secret in (hook.secret, rotated.secret):
        event = verify_webhook(secret, request.headers, request.body)
        assert (event.id, event.type, event.seq) == (queued.event_id, "webhook.test", 0)
    log = [d async for d in vendor.webhooks.deliveries(hook.id)]
    assert [(d.id, d.test) for d in log] == [(queued.delivery_id, True)]
    await vendor.webhooks.delete(hook.id)
    with pytest.raises(NotFound):
        await vendor.webhooks.get(hook.id)


async def test_the_offer_list_iterates_every_page(client: Any, db: asyncpg.Connection) -> None:
    anonymous = AsyncClient(http=client)
    buyer = anonymous.with_token(
        (await anonymous.accounts.create_buyer({"display_name": "ada"})).token
    )
    intent = await buyer.intents.publish(CAMERA)
    vendors = [await vendor_client(anonymous, db, f"Shop {n}") for n in range(5)]
    await matched(db, intent.id, *(Account(vendor_id, "", {}) for _, vendor_id in vendors))
    for n, (vendor, _) in enumerate(vendors):
        await vendor.offers.create(
            intent.id, {"price": {"amount": f"{1500 + n}.00", "currency": "EUR"}, "title": "A7"}
        )
    pages: list[str] = []

    async def record(request: httpx.Request) -> None:
        pages.append(str(request.url))

    client.event_hooks["request"].append(record)
    listed = [o async for o in buyer.intents.offers(intent.id, sort="price", limit=2)]
    assert all(isinstance(o, BuyerOfferView) for o in listed)
    assert [o.price.amount for o in listed] == sorted(o.price.amount for o in listed)
    assert len({o.id for o in listed}) == 5
    assert len(pages) == 3 and all("after=" in url for url in pages[1:])
