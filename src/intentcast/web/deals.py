"""What the buyer decides about offers, and the relay chat: accept (pinning the offer
version the page showed), decline, reveal chosen details to one vendor, and the
conversations vendors open. The rules are ``services.offers``, ``services.reveals`` and
``services.relay``; input goes through the API's own request Structs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec
from litestar import Controller, MediaType, Request, get, post
from litestar.di import Provide
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from redis.asyncio import Redis

from intentcast.api.offers import AcceptRequest
from intentcast.api.relay import MessageCreate
from intentcast.api.reveals import RevealRequest
from intentcast.domain.errors import DomainError
from intentcast.security import Keys
from intentcast.services import offers, relay, reveals
from intentcast.services.vendors import public_profiles
from intentcast.store.accounts import Principal
from intentcast.web.accounts import page
from intentcast.web.errors import FormError, message_of, status_of
from intentcast.web.forms import form_fields, form_list
from intentcast.web.session import current_buyer


def _back_to(intent_id: str, done: str) -> Redirect:
    if not intent_id.isascii() or not intent_id.replace("_", "").isalnum():
        return Redirect(path="/intents", status_code=HTTP_303_SEE_OTHER)
    return Redirect(path=f"/intents/{intent_id}?done={done}", status_code=HTTP_303_SEE_OTHER)


class DealPages(Controller):
    include_in_schema = False
    dependencies = {"buyer": Provide(current_buyer)}

    @post("/offers/{offer_id:str}/accept", status_code=303)
    async def accept(
        self,
        offer_id: str,
        request: Request[Any, Any, Any],
        buyer: Principal,
        db: asyncpg.Connection,
        redis: Redis,
        keys: Keys,
    ) -> Redirect:
        """Accepts the version the page showed: if the vendor revised the offer since,
        nothing is accepted and the page says so (409)."""
        form = await form_fields(request, ("version", "intent_id"))
        if not form["version"]:
            raise FormError("version", "the offer version you saw is missing", status=400)
        accept = msgspec.convert({"version": form["version"]}, AcceptRequest, strict=False)
        outcome = await offers.accept_offer(
            db,
            redis,
            keys,
            buyer_id=buyer.subject_id,
            offer_id=offer_id,
            reveal_fields=[],
            now=datetime.now(UTC),
            seen_version=accept.version,
        )
        return _back_to(outcome.offer.intent_id, "accepted")

    @post("/offers/{offer_id:str}/decline", status_code=303)
    async def decline(
        self, offer_id: str, buyer: Principal, db: asyncpg.Connection, redis: Redis
    ) -> Redirect:
        offer = await offers.decline_offer(db, redis, buyer_id=buyer.subject_id, offer_id=offer_id)
        return _back_to(offer.intent_id, "declined")

    @post("/intents/{intent_id:str}/reveals", status_code=303)
    async def reveal(
        self,
        intent_id: str,
        request: Request[Any, Any, Any],
        buyer: Principal,
        db: asyncpg.Connection,
        redis: Redis,
        keys: Keys,
    ) -> Redirect:
        form = await form_fields(request, ("vendor_id",))
        fields = await form_list(request, "fields")
        if not fields:
            raise FormError("fields", "choose at least one detail to reveal")
        data = msgspec.convert({"vendor_id": form["vendor_id"], "fields": fields}, RevealRequest)
        await reveals.reveal_to_vendor(
            db,
            redis,
            keys,
            buyer_id=buyer.subject_id,
            intent_id=intent_id,
            vendor_id=data.vendor_id,
            fields=list(data.fields),
            now=datetime.now(UTC),
        )
        return _back_to(intent_id, "revealed")

    @get("/threads/{thread_id:str}")
    async def thread_page(
        self, thread_id: str, buyer: Principal, db: asyncpg.Connection
    ) -> Template:
        return await self._thread_page(db, buyer, thread_id, None, 200)

    async def _thread_page(
        self,
        db: asyncpg.Connection,
        buyer: Principal,
        thread_id: str,
        error: str | None,
        status: int,
        draft: str = "",
    ) -> Template:
        thread = await relay.read_thread(
            db, role="buyer", subject_id=buyer.subject_id, thread_id=thread_id
        )
        vendor = (await public_profiles(db, [thread.vendor_id])).get(thread.vendor_id)
        return page(
            "thread.html",
            status=status,
            thread=thread,
            vendor=vendor,
            error=error,
            draft=draft,
            signed_in_as=buyer.subject_id,
        )

    @get("/threads/{thread_id:str}/messages")
    async def messages_fragment(
        self, thread_id: str, buyer: Principal, db: asyncpg.Connection
    ) -> Template:
        """The messages alone, for the thread page's script to swap in live."""
        thread = await relay.read_thread(
            db, role="buyer", subject_id=buyer.subject_id, thread_id=thread_id
        )
        return Template(
            template_name="_messages.html", context={"thread": thread}, media_type=MediaType.HTML
        )

    @post("/threads/{thread_id:str}/messages", status_code=303)
    async def post_message(
        self,
        thread_id: str,
        request: Request[Any, Any, Any],
        buyer: Principal,
        db: asyncpg.Connection,
        redis: Redis,
    ) -> Any:
        form = await form_fields(request, ("body",))
        try:
            data = msgspec.convert({"body": form["body"]}, MessageCreate)
            await relay.post_message(
                db,
                redis,
                role="buyer",
                subject_id=buyer.subject_id,
                thread_id=thread_id,
                body=data.body,
            )
        except msgspec.ValidationError:
            return await self._thread_page(
                db, buyer, thread_id, "Write a message of 1 to 5,000 characters.", 422, form["body"]
            )
        except DomainError as exc:
            return await self._thread_page(
                db, buyer, thread_id, message_of(exc), status_of(exc), form["body"]
            )
        return Redirect(path=f"/threads/{thread_id}#reply", status_code=HTTP_303_SEE_OTHER)
