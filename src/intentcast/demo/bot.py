"""A vendor bot that uses nothing but the client library (``intentcast.client``).

What a vendor's program does, from start to end:

1. subscribe to the demand it can serve (categories, and an area or countries), once;
2. listen to its events: ``client.vendor.events()`` is the live stream (SSE), which resumes
   after a disconnect with ``Last-Event-ID`` and never yields the same ``seq`` twice;
3. ``intent.matched``: price the intent from the buyer's budget (as the vendor sees it), send
   an offer and open a relay thread to say hello; with no budget to go by, ask for one;
4. ``message.created``: answer the buyer through the relay, and make the offer once a buyer
   who gave no budget names a figure (the bot keeps no state of its own: it looks at the
   intent, and the server refuses a second live offer);
5. ``reveal.granted`` (a reveal, or an accepted offer that reveals): accept the buyer's terms,
   then read the revealed fields;
6. ``offer.accepted``, ``offer.declined``, ``intent.closed``: note the outcome.

Every POST the client sends carries an ``Idempotency-Key`` that its retries reuse, so a
retried offer is never made twice; events replayed after a restart find the offer or thread
already made (``409 offer-exists``/``thread-exists``) and the bot moves on.

``run_bot`` runs one bot until ``stop`` is set (``examples/vendor_bot.py`` from the command
line; ``intentcast demo`` runs fifty in one process, each with its own client); ``report``
hears each thing a bot does (an ``Activity``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from intentcast.client import AsyncClient, Conflict, ProblemError

CENT = Decimal("0.01")


@dataclass(frozen=True)
class BotProfile:
    """Who the vendor is and what it sells."""

    name: str
    categories: tuple[str, ...]
    """Taxonomy paths; each matches its whole subtree (``GET /v1/categories``)."""
    city: str | None = None
    lat: float | None = None
    lng: float | None = None
    radius_km: float = 40.0
    countries: tuple[str, ...] = ()
    """Serves these whole countries (an online shop) instead of, or besides, an area."""
    discount: Decimal = Decimal("0.05")
    """How far below the buyer's maximum the bot prices (0.05: 5 %)."""
    currency: str = "EUR"
    """For intents without a budget, priced from the figure the buyer names."""
    delivery_days: int = 3
    think_seconds: tuple[float, float] = (0.2, 1.5)
    """How long the bot pauses before answering (a human pace, spread over time)."""

    def subscription(self) -> dict[str, Any]:
        body: dict[str, Any] = {"categories": list(self.categories)}
        if self.lat is not None and self.lng is not None:
            body["area"] = {"lat": self.lat, "lng": self.lng, "radius_km": self.radius_km}
        if self.countries:
            body["countries"] = list(self.countries)
        return body


@dataclass(frozen=True)
class Activity:
    """One thing a bot did or heard."""

    vendor: str
    kind: str
    """``matched``, ``offered``, ``asked``, ``answered``, ``accepted``, ``declined``,
    ``revealed``, ``closed``, ``refused`` (the server said no: ``detail`` says why) or
    ``failed`` (no answer from the server, after the client's retries)."""
    intent_id: str | None = None
    detail: str = ""


Report = Callable[[Activity], None]


# ---- the bot's rules, without I/O -------------------------------------------------------------


def price_for(budget: Mapping[str, Any] | None, discount: Decimal) -> dict[str, str] | None:
    """An offer price from the buyer's budget as a vendor sees it (``{currency, min, max}``,
    amounts as decimal strings): ``discount`` below the maximum but not under the minimum;
    ``discount`` above the minimum when only that is given; None with nothing to go by."""
    if not budget:
        return None
    low, high = _decimal(budget.get("min")), _decimal(budget.get("max"))
    if high is not None:
        amount = high * (1 - discount)
        if low is not None:
            amount = max(amount, low)
    elif low is not None:
        amount = low * (1 + discount)
    else:
        return None
    return {
        "amount": str(amount.quantize(CENT, rounding=ROUND_DOWN)),
        "currency": budget["currency"],
    }


_FIGURE = re.compile(r"(?<![\w.,])(\d{1,3}(?:[.,]\d{3})+|\d+)(?:[.,](\d{1,2}))?(?![\w])")


def figure_in(text: str) -> Decimal | None:
    """The first amount in a buyer's message ("about 2.500 EUR" → 2500), if any."""
    for whole, cents in _FIGURE.findall(text):
        amount = Decimal(re.sub(r"[.,]", "", whole) + (f".{cents}" if cents else ""))
        if amount >= 1:
            return amount
    return None


_ANSWERS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("deliver", "shipping", "ship", "when", "how long"), "We deliver within {days} days."),
    (("warranty", "guarantee", "broken", "return"), "It comes with the full two-year warranty."),
    (("pick", "collect", "shop", "visit"), "You are welcome to pick it up at our shop{where}."),
    (("discount", "cheaper", "lower", "best price"), "That is already our best price for you."),
    (("stock", "available", "have it"), "Yes, it is in stock."),
)


def answer_to(question: str, profile: BotProfile) -> str:
    """A short, friendly answer to a buyer's message: one sentence per topic it mentions."""
    lowered = question.lower()
    where = f" in {profile.city}" if profile.city else ""
    sentences = [
        text.format(days=profile.delivery_days, where=where)
        for words, text in _ANSWERS
        if any(word in lowered for word in words)
    ]
    if not sentences:
        sentences = ["Thanks for your message! Anything else you would like to know?"]
    return " ".join(sentences)


def intent_id_of(data: Mapping[str, Any]) -> str | None:
    """The intent an event is about: ``intent_id``, or the id of the ``intent`` it carries
    (``intent.matched``, ``intent.updated``, ``intent.closed``)."""
    intent = data.get("intent")
    return data.get("intent_id") or (intent.get("id") if isinstance(intent, dict) else None)


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


# ---- the bot -----------------------------------------------------------------------------------


class VendorBot:
    """One vendor's bot over one ``AsyncClient`` that holds the vendor's token."""

    def __init__(
        self,
        client: AsyncClient,
        profile: BotProfile,
        *,
        report: Report | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.profile = profile
        self.report = report or (lambda activity: None)
        self.rng = rng or random.Random()
        self.last_seq = 0
        """The seq of the last event handled: resume from it (``run(after=...)``)."""
        self.handlers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "intent.matched": self.on_intent_matched,
            "message.created": self.on_message,
            "reveal.granted": self.on_reveal_granted,
            "offer.accepted": self.on_offer_accepted,
            "offer.declined": self.on_offer_declined,
            "intent.closed": self.on_intent_closed,
        }

    async def subscribe(self) -> str:
        """The bot's subscription: an active one on the same categories is reused, so a
        restarted bot does not subscribe twice."""
        wanted = self.profile.subscription()
        async for existing in self.client.subscriptions.list():
            if existing.active and sorted(existing.categories) == sorted(wanted["categories"]):
                return existing.id
        return (await self.client.subscriptions.create(wanted)).id

    async def run(self, *, after: int = 0) -> None:
        """Handle every event after seq ``after``, live, until cancelled."""
        self.last_seq = after
        events = self.client.vendor.events(after=after)
        async with contextlib.aclosing(events):
            async for event in events:
                handler = self.handlers.get(event.type)
                if handler is not None:
                    try:
                        await handler(event.data)
                    except ProblemError as refusal:  # e.g. the intent closed meanwhile
                        self._tell("refused", intent_id_of(event.data), str(refusal))
                    except Exception as failure:
                        # a network failure that outlasted the client's retries (httpx's
                        # TransportError): the bot goes on with the next event
                        self._tell("failed", intent_id_of(event.data), repr(failure))
                self.last_seq = event.seq

    # -- handlers, one per event type

    async def on_intent_matched(self, data: dict[str, Any]) -> None:
        intent = data["intent"]
        intent_id, title = intent["id"], intent["title"]
        self._tell("matched", intent_id, title)
        if intent["status"] != "open":
            return
        await self._think()
        price = price_for(intent.get("budget"), self.profile.discount)
        if price is None:
            thread_id = await self._open_thread(
                intent_id,
                f"Hello from {self.profile.name}! We can help with “{title}”. "
                "What budget do you have in mind?",
            )
            if thread_id is not None:  # the buyer's answer comes as a message.created
                self._tell("asked", intent_id, "asked for a budget")
            return
        if await self._offer(intent_id, title, price):
            await self._open_thread(
                intent_id,
                f"Hello from {self.profile.name}! Our offer is in; ask us anything here.",
            )

    async def on_message(self, data: dict[str, Any]) -> None:
        """A buyer wrote in one of our threads (vendors hear only the buyer's messages)."""
        thread_id, intent_id = data["thread_id"], data["intent_id"]
        text = data["message"]["body"]  # scrubbed of contact data the buyer did not reveal
        await self._think()
        reply = answer_to(text, self.profile)
        figure = figure_in(text)
        if figure is not None:  # perhaps the answer to our question about the budget
            intent = await self.client.vendor.intent(intent_id)
            if intent.budget is None and intent.status == "open":
                budget = {"max": str(figure), "currency": self.profile.currency}
                price = price_for(budget, self.profile.discount)
                if price and await self._offer(intent_id, intent.title, price):
                    reply = f"Thank you! Our offer is in: {price['amount']} {price['currency']}."
        await self.client.threads.post(thread_id, reply)
        self._tell("answered", intent_id, text)

    async def on_reveal_granted(self, data: dict[str, Any]) -> None:
        """The buyer revealed fields to us: accepting their terms comes before reading them
        (the server answers 409 until then)."""
        reveal_id = data["reveal_id"]
        await self.client.vendor.accept_terms(reveal_id)
        revealed = await self.client.vendor.reveal(reveal_id)
        shown = ", ".join(f"{k}={v}" for k, v in revealed.fields.items() if v)
        self._tell("revealed", data["intent_id"], shown or "(no values)")

    async def on_offer_accepted(self, data: dict[str, Any]) -> None:
        offer = data["offer"]
        price = offer["price"]
        self._tell("accepted", data["intent_id"], f"{price['amount']} {price['currency']}")

    async def on_offer_declined(self, data: dict[str, Any]) -> None:
        self._tell("declined", data["intent_id"])

    async def on_intent_closed(self, data: dict[str, Any]) -> None:
        intent = data["intent"]
        self._tell("closed", intent["id"], intent["status"])

    # -- calls

    async def _offer(self, intent_id: str, title: str, price: dict[str, str]) -> bool:
        """Send an offer; False if one is live already (a replayed event after a restart)."""
        offer = {
            "price": price,
            "title": f"{title} — {self.profile.name}"[:200],
            "details": f"New, with a two-year warranty. Delivery in {self.profile.delivery_days}"
            " days.",
            "delivery_days": self.profile.delivery_days,
        }
        try:
            await self.client.offers.create(intent_id, offer)
        except Conflict as exc:
            if exc.code != "offer-exists":
                raise
            return False
        self._tell("offered", intent_id, f"{price['amount']} {price['currency']}")
        return True

    async def _open_thread(self, intent_id: str, body: str) -> str | None:
        """Open our thread on the intent, or None if it exists already."""
        try:
            thread = await self.client.threads.open(intent_id, body)
        except Conflict as exc:
            if exc.code != "thread-exists":
                raise
            return None
        return thread.id

    async def _think(self) -> None:
        await asyncio.sleep(self.rng.uniform(*self.profile.think_seconds))

    def _tell(self, kind: str, intent_id: str | None, detail: str = "") -> None:
        self.report(Activity(self.profile.name, kind, intent_id, detail))


async def run_bot(
    client: AsyncClient,
    profile: BotProfile,
    *,
    stop: asyncio.Event | None = None,
    after: int = 0,
    report: Report | None = None,
    rng: random.Random | None = None,
) -> int:
    """Subscribe, then answer events after seq ``after`` until ``stop`` is set (or for ever);
    returns the seq of the last event handled, to resume from next time."""
    bot = VendorBot(client, profile, report=report, rng=rng)
    await bot.subscribe()
    listening = asyncio.create_task(bot.run(after=after))
    stopping = asyncio.create_task((stop or asyncio.Event()).wait())
    try:
        await asyncio.wait({listening, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening  # raises what ended the stream (a revoked token: 401)
    return bot.last_seq
