"""The demo vendor bot's rules (pricing from the budget a vendor sees, reading a figure out of
a buyer's message, answering the relay), that the bot and the example script use the client
library and nothing else of the server, and that the demo's data fits the taxonomy."""

from __future__ import annotations

import ast
import sys
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from intentcast.demo.bot import BotProfile, answer_to, figure_in, price_for
from intentcast.demo.seed import (
    BUYERS,
    DEAL_INTENT,
    RELAY_INTENT,
    SAMPLE_INTENTS,
    vendor_profiles,
)
from intentcast.domain.intents import IntentDraft
from intentcast.domain.subscriptions import SubscriptionDraft
from intentcast.domain.taxonomy import default_categories

REPO_ROOT = Path(__file__).resolve().parents[2]
FIVE = Decimal("0.05")


@pytest.mark.parametrize(
    ("budget", "price"),
    [
        ({"currency": "EUR", "min": None, "max": "1800"}, "1710.00"),
        ({"currency": "EUR", "min": "1750", "max": "1800"}, "1750.00"),  # never under the min
        ({"currency": "USD", "min": "400", "max": None}, "420.00"),
        ({"currency": "EUR", "max": "99.99"}, "94.99"),  # cents rounded down
    ],
)
def test_the_bot_prices_below_the_buyers_maximum_in_the_budgets_currency(budget, price) -> None:
    assert price_for(budget, FIVE) == {"amount": price, "currency": budget["currency"]}


def test_without_a_budget_the_bot_has_no_price() -> None:
    assert price_for(None, FIVE) is None
    assert price_for({"currency": "EUR", "min": None, "max": None}, FIVE) is None


@pytest.mark.parametrize(
    ("text", "figure"),
    [
        ("Around 3.000 EUR. Call me: [phone removed]", Decimal(3000)),
        ("about 2,500", Decimal(2500)),
        ("1299.50 would be fine", Decimal("1299.50")),
        ("Under 1500 please", Decimal(1500)),
        ("no idea yet", None),
    ],
)
def test_the_bot_reads_a_budget_figure_from_the_buyers_message(text, figure) -> None:
    assert figure_in(text) == figure


def test_the_bot_answers_each_topic_the_buyer_asks_about() -> None:
    shop = BotProfile(name="Foto Huber", categories=("electronics",), city="Munich")
    assert answer_to("How long does delivery take?", shop) == "We deliver within 3 days."
    both = answer_to("Is it in stock, and can I pick it up?", shop)
    assert both == "You are welcome to pick it up at our shop in Munich. Yes, it is in stock."
    assert answer_to("Hello!", shop).startswith("Thanks for your message!")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("src/intentcast/demo/bot.py", {"intentcast.client"}),
        ("examples/vendor_bot.py", {"intentcast.client", "intentcast.demo.bot"}),
    ],
)
def test_the_bot_uses_only_the_client_library_and_the_standard_library(path, allowed) -> None:
    outside = {
        name
        for name in imported_modules(REPO_ROOT / path)
        if name not in allowed and name.split(".")[0] not in sys.stdlib_module_names
    }
    assert outside == set()


def test_the_demo_data_is_valid_for_the_api_and_the_builtin_taxonomy() -> None:
    paths = {c.path for c in default_categories()}
    profiles = vendor_profiles()
    assert len(profiles) == 50 and len({p.name for p in profiles}) == 50
    for profile in profiles:
        msgspec.convert(profile.subscription(), SubscriptionDraft)
        assert set(profile.categories) <= paths, profile
    cities = {b.key: b.city for b in BUYERS}
    keys = {s.key for s in SAMPLE_INTENTS}
    assert {DEAL_INTENT, RELAY_INTENT} <= keys and len(keys) == len(SAMPLE_INTENTS)
    for sample in SAMPLE_INTENTS:
        msgspec.convert(sample.draft(cities[sample.buyer]), IntentDraft, strict=False)
        assert sample.category in paths, sample
