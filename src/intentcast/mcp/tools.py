"""The tools a buyer's assistant may call, and what each does with the buyer's token.

Each tool's arguments are a msgspec Struct made of the server's own Structs and types
(``IntentDraft``, ``IntentStatus``, ``OfferSort``, ``PersonaField``): its JSON schema is the
tool's input schema, and the arguments are decoded into it, so a wrong argument is refused
naming the field before anything is sent. Answers are JSON objects (the server's Structs as
built-ins). A refusal (a ``ProblemError`` from the API, bad arguments, a rule of this
module) raises ``ToolRefused`` with a message for the model, never a crash.

Rules for the agent:

- ``publish_intent`` takes only a draft this session has previewed, with
  ``confirm_redactions: true``: the model has been shown what vendors will see and what was
  removed before anything is published.
- ``propose_acceptance`` and ``propose_reveal`` never accept or reveal: they answer a link to
  the buyer's web page, where the human confirms (and ask the human to open it through MCP
  URL elicitation when the client supports it). The token an agent holds should be scoped,
  so that the server would refuse it anyway.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import quote

import msgspec

from intentcast.client import AsyncClient, ProblemError
from intentcast.domain.intents import IntentDraft, IntentStatus
from intentcast.domain.offers import OfferSort, OfferStatus
from intentcast.domain.reveals import PersonaField

AskHuman = Callable[[str, str], Awaitable[str | None]]
"""``ask_human(message, url)``: shows the human a link to open (MCP URL elicitation) and
answers their action (``accept``, ``decline``, ``cancel``), or ``None`` when the assistant's
client cannot ask."""


class ToolRefused(Exception):
    """A tool call that did nothing: the message tells the model why."""


class Args(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The base of every tool's arguments."""


class NoArgs(Args):
    pass


class PreviewIntentArgs(Args):
    draft: Annotated[
        IntentDraft, msgspec.Meta(description="The intent as the buyer would publish it.")
    ]


class PublishIntentArgs(Args):
    draft: Annotated[
        IntentDraft,
        msgspec.Meta(description="Exactly the draft previewed (preview_intent) in this session."),
    ]
    confirm_redactions: Annotated[
        bool,
        msgspec.Meta(
            description="True once the buyer has seen the preview's redactions and vendor view."
        ),
    ]


class ListIntentsArgs(Args):
    status: (
        Annotated[list[IntentStatus], msgspec.Meta(description="Only intents in these states.")]
        | None
    ) = None


class IntentArgs(Args):
    intent_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class ListOffersArgs(IntentArgs):
    sort: OfferSort | None = None
    status: (
        Annotated[list[OfferStatus], msgspec.Meta(description="Only offers in these states.")]
        | None
    ) = None


class CompareOffersArgs(IntentArgs):
    order_by: Literal["price", "rating", "delivery_days"] = "price"
    include_closed: Annotated[
        bool,
        msgspec.Meta(
            description="Also declined, withdrawn and expired offers (else live and accepted)."
        ),
    ] = False


class ThreadArgs(Args):
    thread_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class ReplyArgs(ThreadArgs):
    body: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=5000,
            description="The buyer's message; contact details in it are hidden from the "
            "vendor until a reveal.",
        ),
    ]


class ProposeAcceptanceArgs(Args):
    offer_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class ProposeRevealArgs(IntentArgs):
    vendor_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    fields: Annotated[
        list[PersonaField],
        msgspec.Meta(
            min_length=1,
            max_length=4,
            description="Which of the buyer's details the buyer would disclose to this vendor.",
        ),
    ]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args: type[Args]
    read_only: bool

    def input_schema(self) -> dict[str, Any]:
        """The JSON schema of the arguments, as an object schema at the top (MCP wants one),
        its ``$defs`` kept beside it."""
        document = msgspec.json.schema(self.args)
        defs: dict[str, Any] = dict(document.get("$defs", {}))
        top = dict(defs.pop(self.args.__name__)) if "$ref" in document else dict(document)
        top.pop("title", None)
        top.setdefault("properties", {})
        if defs:
            top["$defs"] = defs
        return top


TOOLS: tuple[Tool, ...] = (
    Tool(
        "preview_intent",
        "Show exactly what vendors would see if this intent were published, and what was "
        "removed from it (phone numbers, e-mail addresses, exact places...). Nothing is "
        "stored. Show the buyer the redactions before publishing.",
        PreviewIntentArgs,
        True,
    ),
    Tool(
        "publish_intent",
        "Publish an intent to matching vendors. Only a draft previewed in this session "
        "(preview_intent), with confirm_redactions true once the buyer has seen the "
        "redactions. Answers the stored intent with its redactions and vendor view.",
        PublishIntentArgs,
        False,
    ),
    Tool("list_intents", "The buyer's intents, newest first.", ListIntentsArgs, True),
    Tool("get_intent", "One of the buyer's intents.", IntentArgs, True),
    Tool(
        "list_offers",
        "The offers on one of the buyer's intents, each with its vendor's public profile.",
        ListOffersArgs,
        True,
    ),
    Tool(
        "compare_offers",
        "The offers on an intent side by side: price, vendor rating, delivery days, terms, "
        "status; and which is cheapest, fastest and best rated.",
        CompareOffersArgs,
        True,
    ),
    Tool("list_threads", "The buyer's relay conversations with vendors.", NoArgs, True),
    Tool("read_thread", "One relay conversation, every message.", ThreadArgs, True),
    Tool(
        "reply_in_thread",
        "Answer a vendor in a relay conversation, as the buyer. The vendor sees the message "
        "with contact details hidden until the buyer reveals them.",
        ReplyArgs,
        False,
    ),
    Tool("pause_intent", "Pause an intent: no new offers until reopened.", IntentArgs, False),
    Tool("reopen_intent", "Reopen a paused intent.", IntentArgs, False),
    Tool(
        "withdraw_intent",
        "Withdraw an intent for good: vendors are told it is closed.",
        IntentArgs,
        False,
    ),
    Tool(
        "propose_acceptance",
        "Propose accepting an offer. Does NOT accept: answers a link to the buyer's web page "
        "where the buyer confirms (or not). Tell the buyer to open it.",
        ProposeAcceptanceArgs,
        True,
    ),
    Tool(
        "propose_reveal",
        "Propose revealing some of the buyer's details (name, email, phone, address) to a "
        "vendor. Does NOT reveal: answers a link to the buyer's web page where the buyer "
        "confirms (or not). Tell the buyer to open it.",
        ProposeRevealArgs,
        True,
    ),
)
TOOLS_BY_NAME: Mapping[str, Tool] = {tool.name: tool for tool in TOOLS}


def builtins(value: Any) -> Any:
    """A Struct (or list of them) as JSON-ready built-ins."""
    return msgspec.to_builtins(value)


def problem_text(error: ProblemError) -> str:
    """The server's refusal, for the model: status, code, detail and each field's error."""
    text = f"The intentcast server refused ({error.status} {error.code or error.title})"
    if error.detail:
        text += f": {error.detail}"
    for field_error in error.errors:
        text += f"\n- {field_error.get('field') or field_error.get('key') or ''}: "
        text += str(field_error.get("message") or field_error)
    return text


class Toolbox:
    """The tools, bound to one buyer's client and the web pages' base URL, with what this
    session has previewed."""

    def __init__(self, client: AsyncClient, web_url: str) -> None:
        self.client = client
        self.web_url = web_url.rstrip("/")
        self._previewed: set[bytes] = set()

    async def call(
        self, name: str, arguments: Mapping[str, Any] | None, ask_human: AskHuman
    ) -> dict[str, Any]:
        """Run tool ``name``; its answer as a JSON object, or ``ToolRefused``."""
        tool = TOOLS_BY_NAME.get(name)
        if tool is None:
            raise ToolRefused(f"no tool named {name!r}")
        try:
            args = msgspec.json.decode(msgspec.json.encode(arguments or {}), type=tool.args)
        except msgspec.ValidationError as error:
            raise ToolRefused(f"invalid arguments: {error}") from None
        handler = getattr(self, f"_{name}")
        try:
            return await handler(args, ask_human)
        except ProblemError as error:
            raise ToolRefused(problem_text(error)) from None

    def intent_page(self, intent_id: str, offer_id: str | None = None) -> str:
        url = f"{self.web_url}/intents/{quote(intent_id, safe='')}"
        return url + (f"#offer-{quote(offer_id, safe='')}" if offer_id else "")

    # ------------------------------------------------------------------------------ intents

    async def _preview_intent(self, args: PreviewIntentArgs, ask: AskHuman) -> dict[str, Any]:
        preview = await self.client.intents.preview(args.draft)
        self._previewed.add(msgspec.json.encode(args.draft))
        return {
            "redactions": builtins(preview.redactions),
            "vendor_view": builtins(preview.vendor_view),
            "note": "Nothing is published yet. Show the buyer the redactions and what vendors "
            "would see; publish_intent with this same draft and confirm_redactions true "
            "once they agree.",
        }

    async def _publish_intent(self, args: PublishIntentArgs, ask: AskHuman) -> dict[str, Any]:
        if msgspec.json.encode(args.draft) not in self._previewed:
            raise ToolRefused(
                "preview this exact draft first (preview_intent) and show the buyer its "
                "redactions; then publish it unchanged with confirm_redactions true"
            )
        if not args.confirm_redactions:
            raise ToolRefused(
                "confirm_redactions must be true: the buyer has to have seen the redactions"
            )
        intent = await self.client.intents.publish(args.draft)
        return {"intent": builtins(intent), "page": self.intent_page(intent.id)}

    async def _list_intents(self, args: ListIntentsArgs, ask: AskHuman) -> dict[str, Any]:
        intents = [i async for i in self.client.intents.list(status=args.status)]
        return {"intents": builtins(intents)}

    async def _get_intent(self, args: IntentArgs, ask: AskHuman) -> dict[str, Any]:
        intent = await self.client.intents.get(args.intent_id)
        return {"intent": builtins(intent), "page": self.intent_page(intent.id)}

    async def _set_status(self, intent_id: str, status: str) -> dict[str, Any]:
        intent = await self.client.intents.update(intent_id, {"status": status})
        return {"intent": builtins(intent)}

    async def _pause_intent(self, args: IntentArgs, ask: AskHuman) -> dict[str, Any]:
        return await self._set_status(args.intent_id, "paused")

    async def _reopen_intent(self, args: IntentArgs, ask: AskHuman) -> dict[str, Any]:
        return await self._set_status(args.intent_id, "open")

    async def _withdraw_intent(self, args: IntentArgs, ask: AskHuman) -> dict[str, Any]:
        return await self._set_status(args.intent_id, "withdrawn")

    # ------------------------------------------------------------------------------- offers

    async def _list_offers(self, args: ListOffersArgs, ask: AskHuman) -> dict[str, Any]:
        offers = [
            o
            async for o in self.client.intents.offers(
                args.intent_id, sort=args.sort, status=args.status
            )
        ]
        return {"offers": builtins(offers)}

    async def _compare_offers(self, args: CompareOffersArgs, ask: AskHuman) -> dict[str, Any]:
        status = None if args.include_closed else ["live", "accepted"]
        offers = [o async for o in self.client.intents.offers(args.intent_id, status=status)]
        rows = [
            {
                "offer_id": o.id,
                "title": o.title,
                "vendor": o.vendor.name,
                "vendor_id": o.vendor.id,
                "verified": o.vendor.verified,
                "price": str(o.price.amount),
                "currency": o.price.currency,
                "quantity": o.quantity,
                "rating": o.vendor.rating.average,
                "rating_count": o.vendor.rating.count,
                "delivery_days": o.delivery_days,
                "terms": o.terms,
                "valid_until": None if o.valid_until is None else o.valid_until.isoformat(),
                "status": o.status,
                "version": o.version,
            }
            for o in offers
        ]
        never = Decimal("Infinity")
        keys: dict[str, Callable[[dict[str, Any]], Any]] = {
            "price": lambda r: Decimal(r["price"]),
            "rating": lambda r: -(r["rating"] if r["rating"] is not None else -1),
            "delivery_days": lambda r: never if r["delivery_days"] is None else r["delivery_days"],
        }
        rows.sort(key=keys[args.order_by])
        currencies = {r["currency"] for r in rows}
        answer: dict[str, Any] = {"offers": rows, "order_by": args.order_by}
        if rows:
            if len(currencies) == 1:
                answer["cheapest"] = min(rows, key=keys["price"])["offer_id"]
            else:
                answer["note"] = "prices are in different currencies: " + ", ".join(
                    sorted(currencies)
                )
            rated = [r for r in rows if r["rating"] is not None]
            if rated:
                answer["best_rated"] = min(rated, key=keys["rating"])["offer_id"]
            timed = [r for r in rows if r["delivery_days"] is not None]
            if timed:
                answer["fastest"] = min(timed, key=keys["delivery_days"])["offer_id"]
        return answer

    # ------------------------------------------------------------------------------ threads

    async def _list_threads(self, args: NoArgs, ask: AskHuman) -> dict[str, Any]:
        return {"threads": builtins([t async for t in self.client.threads.list()])}

    async def _read_thread(self, args: ThreadArgs, ask: AskHuman) -> dict[str, Any]:
        return {"thread": builtins(await self.client.threads.get(args.thread_id))}

    async def _reply_in_thread(self, args: ReplyArgs, ask: AskHuman) -> dict[str, Any]:
        message = await self.client.threads.post(args.thread_id, args.body)
        return {"message": builtins(message)}

    # ---------------------------------------------- proposals: the human confirms on the web

    async def _propose_acceptance(
        self, args: ProposeAcceptanceArgs, ask: AskHuman
    ) -> dict[str, Any]:
        offer = await self.client.offers.get(args.offer_id)
        if offer.status != "live":
            raise ToolRefused(
                f"offer {offer.id} is {offer.status}: only a live offer can be accepted"
            )
        url = self.intent_page(offer.intent_id, offer.id)
        message = (
            f"Your assistant proposes accepting {offer.title!r} for {offer.price.amount} "
            f"{offer.price.currency} (version {offer.version}). To accept, open the page, "
            f"sign in, and press 'Accept version {offer.version}'."
        )
        return {
            "accepted": False,
            "awaiting_confirmation": True,
            "confirm_url": url,
            "offer": {
                "id": offer.id,
                "intent_id": offer.intent_id,
                "version": offer.version,
                "title": offer.title,
                "price": str(offer.price.amount),
                "currency": offer.price.currency,
                "status": offer.status,
            },
            "human_response": await ask(message, url),
            "instructions": "Nothing was accepted. Give the buyer the confirm_url: they accept "
            "on their own page, signed in (an agent cannot accept an offer). Check the offer's "
            "status afterwards with list_offers.",
        }

    async def _propose_reveal(self, args: ProposeRevealArgs, ask: AskHuman) -> dict[str, Any]:
        await self.client.intents.get(args.intent_id)  # the buyer's own: 404 otherwise
        offers = [
            o
            async for o in self.client.intents.offers(args.intent_id, status=["live", "accepted"])
            if o.vendor.id == args.vendor_id
        ]
        if not offers:
            raise ToolRefused(
                f"vendor {args.vendor_id} has no live or accepted offer on intent "
                f"{args.intent_id}: the buyer reveals from an offer on the intent's page"
            )
        offer = offers[0]
        url = self.intent_page(args.intent_id, offer.id)
        fields = ", ".join(args.fields)
        message = (
            f"Your assistant proposes revealing your {fields} to {offer.vendor.name}. To do "
            "so, open the page, sign in, press 'Reveal details…' on their offer and choose."
        )
        return {
            "revealed": False,
            "awaiting_confirmation": True,
            "confirm_url": url,
            "vendor": {"id": offer.vendor.id, "name": offer.vendor.name},
            "fields": list(args.fields),
            "human_response": await ask(message, url),
            "instructions": "Nothing was revealed. Give the buyer the confirm_url: only they "
            "can disclose their details, on their own page.",
        }


def new_elicitation_id() -> str:
    return uuid.uuid4().hex
