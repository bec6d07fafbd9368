"""The demo marketplace as data: five German cities, fifty vendors in ten trades (two online
shops serving all of Germany and three local shops per trade), four buyers and the eight
intents they publish. Every category is a path of the built-in taxonomy; the demo drops any
the server's taxonomy lacks (``GET /v1/categories``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from intentcast.demo.bot import BotProfile

CITIES: dict[str, tuple[float, float]] = {
    "Berlin": (52.5200, 13.4050),
    "Munich": (48.1374, 11.5755),
    "Hamburg": (53.5511, 9.9937),
    "Cologne": (50.9375, 6.9603),
    "Leipzig": (51.3397, 12.3731),
}

ONLINE = "online"


@dataclass(frozen=True)
class Trade:
    categories: tuple[str, ...]
    shops: tuple[tuple[str, str], ...]
    """(name, city or ``ONLINE``)."""
    delivery_days: int = 3


TRADES: tuple[Trade, ...] = (
    Trade(
        ("electronics/cameras",),
        (
            ("Kamera Express Online", ONLINE),
            ("Fotokoch Versand", ONLINE),
            ("Foto Huber", "Munich"),
            ("Blende 8 Fotografie", "Munich"),
            ("Linse & Licht", "Berlin"),
        ),
    ),
    Trade(
        ("electronics/computers", "electronics/phones"),
        (
            ("Notebook Zentrale", ONLINE),
            ("Byte Direkt", ONLINE),
            ("Elbe Computer", "Hamburg"),
            ("Hafen IT", "Hamburg"),
            ("Kiez Elektronik", "Berlin"),
        ),
        delivery_days=2,
    ),
    Trade(
        ("vehicles/bikes", "repairs/bike-repair"),
        (
            ("Lastenrad Direkt", ONLINE),
            ("Rad & Tat Versand", ONLINE),
            ("Radl Werk München", "Munich"),
            ("Isar Cargo Bikes", "Munich"),
            ("Veedel Velo", "Cologne"),
        ),
        delivery_days=7,
    ),
    Trade(
        ("home-services/plumbing",),
        (
            ("Installateur Meier", "Munich"),
            ("Sanitär Schmid", "Munich"),
            ("Tropf-Stopp Notdienst", "Munich"),
            ("Spree Sanitär", "Berlin"),
            ("Rohr Frei Leipzig", "Leipzig"),
        ),
        delivery_days=1,
    ),
    Trade(
        ("furniture",),
        (
            ("Sofa Company Versand", ONLINE),
            ("Möbel Direkt", ONLINE),
            ("Polster Paul", "Berlin"),
            ("Wohnwerk Kreuzberg", "Berlin"),
            ("Möbelhaus Sachsen", "Leipzig"),
        ),
        delivery_days=10,
    ),
    Trade(
        ("appliances",),
        (
            ("Weiße Ware 24", ONLINE),
            ("Hausgeräte Direkt", ONLINE),
            ("Elektro Krause", "Berlin"),
            ("Haushalt Hoffmann", "Berlin"),
            ("Dom Elektro", "Cologne"),
        ),
    ),
    Trade(
        ("sports/camping-hiking", "sports/winter-sports", "sports/water-sports"),
        (
            ("Bergzeit Versand", ONLINE),
            ("Outdoor Direkt", ONLINE),
            ("Nordwind Outdoor", "Hamburg"),
            ("Alster Sport", "Hamburg"),
            ("Alpen Basislager", "Munich"),
        ),
    ),
    Trade(
        ("electronics/audio", "electronics/tv-video"),
        (
            ("HiFi Versand", ONLINE),
            ("Klangraum Online", ONLINE),
            ("Rhein HiFi", "Cologne"),
            ("Klangwerk Leipzig", "Leipzig"),
            ("Ton & Bild", "Hamburg"),
        ),
    ),
    Trade(
        ("home-garden/garden", "home-services/gardening"),
        (
            ("Gartenwelt Versand", ONLINE),
            ("Grünzeug Köln", "Cologne"),
            ("Gartenhof Leipzig", "Leipzig"),
            ("Isar Garten", "Munich"),
            ("Laubenpieper Berlin", "Berlin"),
        ),
    ),
    Trade(
        ("fashion/shoes", "fashion/clothing"),
        (
            ("Schuhkarton Online", ONLINE),
            ("Mode Direkt", ONLINE),
            ("Schuh Schmitz", "Cologne"),
            ("Hanse Mode", "Hamburg"),
            ("Sneaker Kiez", "Berlin"),
        ),
    ),
)


def vendor_profiles() -> list[BotProfile]:
    """The fifty vendors: each prices 2-14 % below the buyer's maximum (its own rate)."""
    profiles = []
    for t, trade in enumerate(TRADES):
        for s, (name, city) in enumerate(trade.shops):
            discount = Decimal(2 + (t * 5 + s * 3) % 13) / 100
            if city == ONLINE:
                profile = BotProfile(
                    name=name,
                    categories=trade.categories,
                    countries=("DE",),
                    discount=discount,
                    delivery_days=trade.delivery_days + 1,
                )
            else:
                lat, lng = CITIES[city]
                profile = BotProfile(
                    name=name,
                    categories=trade.categories,
                    city=city,
                    lat=lat,
                    lng=lng,
                    radius_km=40.0,
                    discount=discount,
                    delivery_days=trade.delivery_days,
                )
            profiles.append(profile)
    return profiles


@dataclass(frozen=True)
class DemoBuyer:
    key: str
    display_name: str
    name: str
    email: str
    phone: str
    city: str


BUYERS: tuple[DemoBuyer, ...] = (
    DemoBuyer("ada", "Ada", "Ada Lovelace", "ada@example.org", "+49 170 1234567", "Munich"),
    DemoBuyer("ben", "Ben", "Ben Okafor", "ben@example.org", "+49 151 2345678", "Berlin"),
    DemoBuyer("chloe", "Chloé", "Chloé Martin", "chloe@example.org", "+49 160 3456789", "Hamburg"),
    DemoBuyer("dev", "Dev", "Dev Patel", "dev@example.org", "+49 172 4567890", "Cologne"),
)
DEMO_BUYER = "ada"
"""The buyer whose token the demo prints, to sign in on the web pages."""


@dataclass(frozen=True)
class SampleIntent:
    key: str
    buyer: str
    category: str
    title: str
    description: str | None = None
    budget: dict[str, str] | None = None
    fulfilment: tuple[str, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)
    quantity: int = 1

    def draft(self, city: str) -> dict[str, Any]:
        """The body of ``POST /v1/intents`` for a buyer in ``city`` (a point near its
        centre, coarsened by the server to an H3 cell; the country for online shops)."""
        lat, lng = CITIES[city]
        body: dict[str, Any] = {
            "category": self.category,
            "title": self.title,
            "quantity": self.quantity,
            "location": {"lat": lat + 0.011, "lng": lng - 0.017, "precision": 8, "country": "DE"},
        }
        if self.description:
            body["description"] = self.description
        if self.budget:
            body["budget"] = self.budget
        if self.fulfilment:
            body["fulfilment"] = list(self.fulfilment)
        if self.attributes:
            body["attributes"] = self.attributes
        return body


def _eur(max_: str, min_: str | None = None) -> dict[str, str]:
    return {"currency": "EUR", "max": max_} | ({"min": min_} if min_ else {})


SAMPLE_INTENTS: tuple[SampleIntent, ...] = (
    SampleIntent(
        "camera",
        "ada",
        "electronics/cameras/mirrorless",
        "Full-frame mirrorless camera body",
        "New, Sony E-mount preferred (A7 IV or similar). Needed before our trip in December.",
        _eur("1800"),
        ("delivery", "pickup"),
        {"condition": "new", "mount": "sony-e"},
    ),
    SampleIntent(
        "tap",
        "ada",
        "home-services/plumbing/leak-repair",
        "Dripping kitchen tap needs fixing",
        "The mixer tap drips constantly. Evenings are best, call me on 0170 1234567 after 6 pm.",
        _eur("150"),
        ("onsite",),
    ),
    SampleIntent(
        "cargo-bike",
        "ada",
        "vehicles/bikes/cargo-bikes",
        "Cargo bike for two kids",
        "Electric assist, a box with two seats and a rain cover.",
        None,
        ("pickup", "delivery"),
    ),
    SampleIntent(
        "sofa",
        "ben",
        "furniture/sofas",
        "Three-seat sofa, grey fabric",
        "Washable covers, no leather. Must fit through a 80 cm door.",
        _eur("900", "400"),
        ("delivery",),
    ),
    SampleIntent(
        "washer",
        "ben",
        "appliances/large-appliances/washing-machines",
        "Washing machine, 8 kg, energy class A",
        "Delivery to the 3rd floor (no lift) and taking the old machine away.",
        _eur("650"),
        ("delivery",),
    ),
    SampleIntent(
        "laptop",
        "chloe",
        "electronics/computers/laptops",
        "Lightweight laptop for university",
        "Under 1.4 kg, 16 GB RAM, all-day battery.",
        _eur("1100"),
        ("delivery", "pickup"),
    ),
    SampleIntent(
        "tent",
        "chloe",
        "sports/camping-hiking/tents",
        "Two-person hiking tent under 2 kg",
        "Freestanding, for a summer in Scandinavia.",
        _eur("350"),
    ),
    SampleIntent(
        "turntable",
        "dev",
        "electronics/audio/turntables",
        "Turntable with built-in preamp",
        "Belt drive is fine; to connect to powered speakers.",
        _eur("450"),
        ("delivery", "pickup"),
    ),
)
DEAL_INTENT = "camera"
"""The intent on which the demo buyer accepts the cheapest offer (revealing name and
e-mail), so a bot reads a reveal; the others stay open for you to explore."""
RELAY_INTENT = "cargo-bike"
"""No budget: the bots ask for one through the relay, and the buyer answers with a figure and
a phone number (which the vendors see removed)."""
RELAY_ANSWER = "Around 3.000 EUR. Delivery would be great, or call me: +49 170 1234567"
