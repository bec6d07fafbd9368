"""The buyer's intents: the list with statuses, compose with a live "what vendors will see"
preview, publish, and the intent page (its vendor view, status changes, the offers ranked
and sortable, its threads and reveals). The steps are ``services.intents``,
``services.offers``, ``services.relay`` and ``services.reveals`` — the API's own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg
import msgspec
from litestar import Controller, MediaType, Request, get, post
from litestar.di import Provide
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from redis.asyncio import Redis

from intentcast.config import Settings
from intentcast.domain.errors import DomainError
from intentcast.domain.intents import IntentDraft, IntentPatch
from intentcast.domain.reveals import PERSONA_FIELDS
from intentcast.domain.vendor_view import preview_view, vendor_view
from intentcast.services import intents, offers, relay, reveals
from intentcast.services.taxonomy import TaxonomyCache
from intentcast.store.accounts import Principal
from intentcast.web.accounts import page
from intentcast.web.errors import message_of, status_of, validation_message
from intentcast.web.forms import form_fields, form_list
from intentcast.web.session import current_buyer
from intentcast.web.views import area_of, marked_segments

PAGE_SIZE = 50
OFFERS_SHOWN = 200
"""At most one offer per vendor: more than any intent gets in practice."""
LEDGER_WINDOW = 200
"""Receipts read to show an intent's reveals (newest first)."""
SELECT_LIMIT = 400
"""Up to this many categories the compose form offers a select; beyond, a text field
with suggestions."""
DRAFT_FIELDS = (
    "category",
    "title",
    "description",
    "quantity",
    "budget_min",
    "budget_max",
    "currency",
    "budget_visible",
    "country",
    "lat",
    "lng",
    "precision",
    "needed_by",
    "retention_days",
)
FULFILMENT = ("delivery", "pickup", "onsite", "digital")
PRECISIONS = [
    (5, "Region (about 250 km²)"),
    (6, "Town (about 36 km²)"),
    (7, "District (about 5 km²)"),
]
SORTS = {"price": "Price, lowest first", "rating": "Vendor rating", "newest": "Newest first"}
Sort = Literal["price", "rating", "newest"]


def draft_from_form(form: dict[str, str], fulfilment: list[str]) -> IntentDraft:
    """The form as the JSON API's ``IntentDraft`` (same validation, field names kept)."""
    value = {k: v.strip() for k, v in form.items()}
    draft: dict[str, Any] = {
        "category": value["category"],
        "title": form["title"].strip(),
        "quantity": value["quantity"] or "1",
        "fulfilment": fulfilment,
    }
    if form["description"].strip():
        draft["description"] = form["description"]
    if value["budget_min"] or value["budget_max"]:
        draft["budget"] = {
            "currency": (value["currency"] or "EUR").upper(),
            "visible": value["budget_visible"] != "",
            **{k: value[f"budget_{k}"] for k in ("min", "max") if value[f"budget_{k}"]},
        }
    location: dict[str, Any] = {}
    if value["country"]:
        location["country"] = value["country"].upper()
    if value["lat"] or value["lng"]:
        location.update(lat=value["lat"], lng=value["lng"], precision=value["precision"] or "7")
    if location:
        draft["location"] = location
    if value["needed_by"]:
        draft["needed_by"] = value["needed_by"]
    if value["retention_days"]:
        draft["terms"] = {"retention_days": value["retention_days"]}
    return msgspec.convert(draft, IntentDraft, strict=False)


async def _read_draft(request: Request[Any, Any, Any]) -> tuple[dict[str, str], list[str]]:
    return await form_fields(request, DRAFT_FIELDS), await form_list(request, "fulfilment")


async def _categories(db: asyncpg.Connection, taxonomy: TaxonomyCache) -> list[Any]:
    return [c for c in await taxonomy.current(db) if not c.retired]


def _empty_form() -> dict[str, str]:
    form = dict.fromkeys(DRAFT_FIELDS, "")
    form.update(quantity="1", currency="EUR", budget_visible="on", precision="7")
    return form


class IntentPages(Controller):
    include_in_schema = False
    dependencies = {"buyer": Provide(current_buyer)}

    @get("/intents")
    async def list_intents(self, buyer: Principal, db: asyncpg.Connection) -> Template:
        items = await intents.buyer_intents(
            db, buyer_id=buyer.subject_id, statuses=None, limit=PAGE_SIZE, before=None
        )
        return page("intents.html", intents=items, signed_in_as=buyer.subject_id)

    @get("/intents/new")
    async def compose(
        self, buyer: Principal, db: asyncpg.Connection, taxonomy: TaxonomyCache
    ) -> Template:
        return await self._compose_page(db, taxonomy, buyer, _empty_form(), [], None)

    async def _compose_page(
        self,
        db: asyncpg.Connection,
        taxonomy: TaxonomyCache,
        buyer: Principal,
        form: dict[str, str],
        fulfilment: list[str],
        error: str | None,
        status: int = 200,
    ) -> Template:
        categories = await _categories(db, taxonomy)
        return page(
            "compose.html",
            status=status,
            form=form,
            fulfilment=fulfilment,
            fulfilment_choices=FULFILMENT,
            precisions=PRECISIONS,
            categories=categories,
            category_select=len(categories) <= SELECT_LIMIT,
            error=error,
            signed_in_as=buyer.subject_id,
        )

    @post("/intents/preview", status_code=200)
    async def preview(
        self,
        request: Request[Any, Any, Any],
        buyer: Principal,
        db: asyncpg.Connection,
        taxonomy: TaxonomyCache,
        settings: Settings,
    ) -> Template:
        """The preview fragment the compose page's script asks for as the buyer types."""
        form, fulfilment = await _read_draft(request)
        try:
            draft = draft_from_form(form, fulfilment)
            intent = await intents.draft_intent(
                db, taxonomy, settings, buyer_id=buyer.subject_id, draft=draft, now=_now()
            )
        except (msgspec.ValidationError, DomainError) as exc:
            status = status_of(exc) if isinstance(exc, DomainError) else 422
            return Template(
                template_name="_preview.html",
                context={"error": message_of(exc), "view": None},
                status_code=status,
                media_type=MediaType.HTML,
            )
        view = preview_view(intent, location_floor=settings.location_floor)
        return Template(
            template_name="_preview.html",
            context={
                "error": None,
                "view": view,
                "area": area_of(view.location),
                "redactions": intent.redactions,
                "title_segments": marked_segments(intent.title, intent.redactions, "title"),
                "description_segments": marked_segments(
                    intent.description or "", intent.redactions, "description"
                ),
            },
            media_type=MediaType.HTML,
        )

    @post("/intents", status_code=303)
    async def publish(
        self,
        request: Request[Any, Any, Any],
        buyer: Principal,
        db: asyncpg.Connection,
        redis: Redis,
        taxonomy: TaxonomyCache,
        settings: Settings,
    ) -> Any:
        form, fulfilment = await _read_draft(request)
        try:
            draft = draft_from_form(form, fulfilment)
            stored = await intents.publish_intent(
                db, redis, taxonomy, settings, buyer_id=buyer.subject_id, draft=draft, now=_now()
            )
        except msgspec.ValidationError as exc:
            return await self._compose_page(
                db, taxonomy, buyer, form, fulfilment, validation_message(exc), 422
            )
        except DomainError as exc:
            return await self._compose_page(
                db, taxonomy, buyer, form, fulfilment, message_of(exc), status_of(exc)
            )
        return Redirect(path=f"/intents/{stored.id}", status_code=HTTP_303_SEE_OTHER)

    @get("/intents/{intent_id:str}")
    async def intent_page(
        self,
        intent_id: str,
        buyer: Principal,
        db: asyncpg.Connection,
        settings: Settings,
        sort: Sort = "price",
        done: str | None = None,
    ) -> Template:
        intent = await intents.buyer_intent(db, buyer_id=buyer.subject_id, intent_id=intent_id)
        context = await _offers_context(db, buyer, intent_id, sort)
        names = {o.vendor.id: o.vendor.name for o in context["offers"]}
        return page(
            "intent.html",
            intent=intent,
            view=vendor_view(intent, location_floor=settings.location_floor),
            area=area_of(vendor_view(intent, location_floor=settings.location_floor).location),
            vendor_names=names,
            reveals=await _reveals_of(db, buyer, intent_id),
            sorts=SORTS,
            flash=_DONE.get(done or ""),
            signed_in_as=buyer.subject_id,
            **context,
        )

    @get("/intents/{intent_id:str}/offers")
    async def offers_fragment(
        self, intent_id: str, buyer: Principal, db: asyncpg.Connection, sort: Sort = "price"
    ) -> Template:
        """The ranked offers alone, for the intent page's script to swap in live."""
        context = await _offers_context(db, buyer, intent_id, sort)
        return Template(
            template_name="_offers.html",
            context=context,
            media_type=MediaType.HTML,
        )

    @post("/intents/{intent_id:str}/status", status_code=303)
    async def change_status(
        self,
        intent_id: str,
        request: Request[Any, Any, Any],
        buyer: Principal,
        db: asyncpg.Connection,
        redis: Redis,
        settings: Settings,
    ) -> Redirect:
        form = await form_fields(request, ("status",))
        patch = msgspec.convert({"status": form["status"]}, IntentPatch)
        await intents.change_intent(
            db,
            redis,
            settings,
            buyer_id=buyer.subject_id,
            intent_id=intent_id,
            patch=patch,
            now=_now(),
        )
        return Redirect(path=f"/intents/{intent_id}?done=status", status_code=HTTP_303_SEE_OTHER)


_DONE = {
    "status": "The intent's status was changed.",
    "accepted": "You accepted the offer. The vendor has been told.",
    "declined": "You declined the offer.",
    "revealed": "Revealed. The vendor must accept your terms before reading anything.",
}


async def _offers_context(
    db: asyncpg.Connection, buyer: Principal, intent_id: str, sort: Sort
) -> dict[str, Any]:
    items, _ = await offers.offers_for_buyer(
        db,
        buyer_id=buyer.subject_id,
        intent_id=intent_id,
        sort=sort,
        statuses=None,
        limit=OFFERS_SHOWN,
    )
    threads = await _threads_of(db, buyer, intent_id)
    return {
        "offers": items,
        "threads": threads,
        "thread_by_vendor": {t.vendor_id: t.id for t in threads},
        "sort": sort,
        "intent_id": intent_id,
        "persona_fields": PERSONA_FIELDS,
    }


async def _threads_of(db: asyncpg.Connection, buyer: Principal, intent_id: str) -> list[Any]:
    rows = await relay.threads_of(
        db, role="buyer", subject_id=buyer.subject_id, limit=200, after=None
    )
    return [t for t in rows if t.intent_id == intent_id]


async def _reveals_of(db: asyncpg.Connection, buyer: Principal, intent_id: str) -> list[Any]:
    """This intent's reveals as the disclosure ledger records them: vendor, fields, whether
    the vendor accepted the terms, whether still active."""
    rows = await reveals.disclosure_ledger(db, buyer.subject_id, limit=LEDGER_WINDOW, before=None)
    by_id: dict[str, dict[str, Any]] = {}
    for row in reversed(rows):  # oldest first
        if row["intent_id"] != intent_id:
            continue
        receipt = row["receipt"]
        entry = by_id.setdefault(
            row["reveal_id"],
            {
                "id": row["reveal_id"],
                "vendor_name": receipt.get("vendor_name") or row["vendor_id"],
                "fields": list(row["fields"]),
                "active": row["reveal_status"] == "granted",
                "terms_accepted_at": None,
                "terms": receipt.get("terms") or {},
            },
        )
        if row["kind"] == "terms_accepted":
            entry["terms_accepted_at"] = row["issued_at"]
    return list(by_id.values())


def _now() -> datetime:
    return datetime.now(UTC)
