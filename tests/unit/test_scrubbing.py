"""Free-text scrubbing: recall on contact data, precision on ordinary buyer text, linear time."""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import get_args

import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from intentcast.domain.intents import check_attribute_text, public_text
from intentcast.domain.scrubbing import MARKERS, Redaction, RedactionKind, ScrubResult, scrub
from intentcast.services import scrubbing as offload

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CORPUS = json.loads((FIXTURES / "pii_corpus.json").read_text("utf-8"))
HOLDOUT = json.loads((FIXTURES / "pii_holdout.json").read_text("utf-8"))
PII = CORPUS["pii"]
BENIGN = CORPUS["benign"]
FALLBACK_REGIONS = (
    "US",
    "GB",
    "DE",
    "FR",
    "ES",
    "IT",
    "NL",
    "IN",
    "AU",
    "BR",
    "JP",
    "AT",
    "CH",
    "PL",
    "CN",
    "RU",
)


def _pii_id(entry: dict) -> str:
    return f"{entry['kind']}:{entry['secret']}"


def _ascii_digits(text: str) -> str:
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", _ascii_digits(text))


def _national_significant_number(secret: str, region: str | None) -> str:
    """The number's digits without country code or trunk prefix."""
    for candidate_region in (region, *FALLBACK_REGIONS):
        try:
            parsed = phonenumbers.parse(_ascii_digits(secret), candidate_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.national_significant_number(parsed)
    return _digits(secret).lstrip("0")


def _rebuild(text: str, redactions: tuple[Redaction, ...]) -> str:
    out, pos = [], 0
    for r in redactions:
        out += [text[pos : r.start], MARKERS[r.kind]]
        pos = r.end
    out.append(text[pos:])
    return "".join(out)


def _covering(text: str, secret: str, kind: str, result: ScrubResult) -> list[Redaction]:
    at = text.index(secret)
    return [
        r
        for r in result.redactions
        if r.kind == kind and r.start <= at and r.end >= at + len(secret)
    ]


# ------------------------------------------------------------------------------ contract


def test_kinds_and_their_markers_are_the_documented_ones() -> None:
    assert get_args(RedactionKind) == ("email", "phone", "url", "handle", "iban", "card", "address")
    assert MARKERS == {
        "email": "[email removed]",
        "phone": "[phone removed]",
        "url": "[link removed]",
        "handle": "[handle removed]",
        "iban": "[iban removed]",
        "card": "[card number removed]",
        "address": "[address removed]",
    }


def test_corpus_size() -> None:
    kinds = Counter(e["kind"] for e in PII)
    assert len({e["text"] for e in PII}) == len(PII) >= 150
    assert kinds["phone"] >= 50 and kinds["email"] >= 30 and kinds["url"] >= 25
    assert kinds["handle"] >= 12 and kinds["iban"] >= 10 and kinds["card"] >= 8
    assert kinds["address"] >= 20
    assert len({e["region"] for e in PII if e["kind"] == "phone"}) >= 20
    # other scripts' digits and format characters are represented
    texts = "".join(e["secret"] for e in PII)
    for sample in ("０", "٠", "०", "۰", "๐", "\u200b", "\u00ad", "＠", "．", "。"):
        assert sample in texts, sample
    assert len(set(BENIGN)) == len(BENIGN) >= 70
    for entry in PII + HOLDOUT["pii"]:
        assert entry["secret"] in entry["text"]


# -------------------------------------------------------------------------------- recall


@pytest.mark.parametrize("entry", PII, ids=_pii_id)
def test_pii_is_removed(entry: dict) -> None:
    text, secret, kind = entry["text"], entry["secret"], entry["kind"]
    result = scrub(text, region=entry["region"], field="description")

    assert secret not in result.text
    assert MARKERS[kind] in result.text
    # A redaction of the right kind covers the secret, with offsets into the original text.
    assert _covering(text, secret, kind, result), result.redactions
    assert all(r.field == "description" for r in result.redactions)
    assert _rebuild(text, result.redactions) == result.text

    if kind == "phone":
        scrubbed_digits = _digits(result.text)
        assert _digits(secret) not in scrubbed_digits
        nsn = _national_significant_number(secret, entry["region"])
        assert len(nsn) >= 7
        assert nsn not in scrubbed_digits


def test_held_out_corpus_recall() -> None:
    """Examples written apart from the detectors (see the module docstring for the numbers
    measured on first contact). Each class keeps a recall of at least 85 %, and the secret
    itself is gone (whatever kind took it) in at least 95 % of them."""
    found, total, gone = Counter(), Counter(), 0
    for entry in HOLDOUT["pii"]:
        text, secret, kind = entry["text"], entry["secret"], entry["kind"]
        result = scrub(text, region=entry["region"])
        total[kind] += 1
        found[kind] += bool(_covering(text, secret, kind, result)) and secret not in result.text
        gone += secret not in result.text
    for kind in total:
        assert found[kind] / total[kind] >= 0.85, (kind, found[kind], total[kind])
    assert gone / len(HOLDOUT["pii"]) >= 0.95


@pytest.mark.parametrize(
    ("text", "secret", "kind"),
    [
        ("Handy ０１５１ ２３４５６７８９ bitte", "０１５１ ２３４５６７８９", "phone"),
        ("ruf ٠١٥١٢٣٤٥٦٧٨٩ an", "٠١٥١٢٣٤٥٦٧٨٩", "phone"),
        ("Nummer 0151\u200b2345\u200b6789.", "0151\u200b2345\u200b6789", "phone"),
        ("mail ada\u200b@example.org now", "ada\u200b@example.org", "email"),
        ("mail ada＠example．org now", "ada＠example．org", "email"),
        ("see ada-love\u00adlace.com now", "ada-love\u00adlace.com", "url"),
        ("IBAN ＤＥ８９ ３７０４ ００４４ ０５３２ ０１３０ ００ ok", None, "iban"),
        ("Lieferung Marienplatz １, München", "Marienplatz １", "address"),
        ("Rue: 12 rue de Rivoli\u0301 ok", None, "address"),
    ],
)
def test_offsets_point_into_the_original_text(text: str, secret: str | None, kind: str) -> None:
    result = scrub(text, region="DE")
    (redaction,) = [r for r in result.redactions if r.kind == kind]
    if secret is not None:
        assert text[redaction.start : redaction.end] == secret
    assert _rebuild(text, result.redactions) == result.text
    # never splits a character from its combining marks
    assert redaction.end == len(text) or unicodedata.category(text[redaction.end])[0] != "M"
    assert unicodedata.category(text[redaction.start])[0] != "M"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Call 0151 23456789 today", "Call [phone removed] today"),
        ("mail john@example.com.", "mail [email removed]."),
        ("see https://example.com/x, thanks", "see [link removed], thanks"),
        ("(see www.example.de)", "(see [link removed])"),
        ("ping @name_123!", "ping [handle removed]!"),
        ("Budget 1800 0151 23456789", "Budget 1800 [phone removed]"),
        ("e.g. i.e. v2.0 1.5 A7.IV", "e.g. i.e. v2.0 1.5 A7.IV"),
        ("not a handle: @ 5 EUR", "not a handle: @ 5 EUR"),
        ("a@b.de vs @handle", "[email removed] vs [handle removed]"),
        ("pay DE89 3704 0044 0532 0130 00 now", "pay [iban removed] now"),
        ("DE89 3704 0044 0532 0130 01 fails mod-97", "DE89 3704 0044 0532 0130 01 fails mod-97"),
        ("card 4111 1111 1111 1111.", "card [card number removed]."),
        ("card 4111 1111 1111 1112 fails Luhn", "card 4111 1111 1111 1112 fails Luhn"),
        ("to Marienplatz 1, 80331 München", "to [address removed], 80331 München"),
        ("at 221B Baker Street, London", "at [address removed], London"),
        ("instagram: ada_lovelace", "instagram: [handle removed]"),
        ("Meine Nr. 0151 23456789", "Meine Nr. [phone removed]"),
        ("0151 23456789 EUR", "[phone removed] EUR"),
        ("visit ADA-SHOP.DE or adalovelace.studio", "visit [link removed] or [link removed]"),
        ("ada ät example punkt org", "[email removed]"),
        ("Marienplatz", "Marienplatz"),
    ],
)
def test_markers_in_place(text: str, expected: str) -> None:
    assert scrub(text, region="DE").text == expected


def test_several_items_in_one_text() -> None:
    text = (
        "Looking for a Sony A7 IV under 1800 EUR, pickup 80331 Munich on 20.12.2026. "
        "Call 0151 23456789 or +33 6 12 34 56 78, mail anna.mueller@gmx.de or "
        "kasimir at example dot com, see example.com/shop and ping @annas_finds."
    )
    result = scrub(text, region="DE", field="description")
    assert [r.kind for r in result.redactions] == [
        "phone",
        "phone",
        "email",
        "email",
        "url",
        "handle",
    ]
    removed = [text[r.start : r.end] for r in result.redactions]
    assert removed == [
        "0151 23456789",
        "+33 6 12 34 56 78",
        "anna.mueller@gmx.de",
        "kasimir at example dot com",
        "example.com/shop",
        "@annas_finds",
    ]
    assert result.text == (
        "Looking for a Sony A7 IV under 1800 EUR, pickup 80331 Munich on 20.12.2026. "
        "Call [phone removed] or [phone removed], mail [email removed] or "
        "[email removed], see [link removed] and ping [handle removed]."
    )
    assert all(r.field == "description" for r in result.redactions)
    starts = [r.start for r in result.redactions]
    assert starts == sorted(starts)


# ----------------------------------------------------------------------------- precision


@pytest.mark.parametrize("region", ["DE", None, "US", "GB", "FR", "IN", "BR", "CN", "RU", "zz"])
@pytest.mark.parametrize("text", BENIGN)
def test_benign_text_survives(text: str, region: str | None) -> None:
    result = scrub(text, region=region)
    assert result == ScrubResult(text=text, redactions=())


@pytest.mark.parametrize("text", HOLDOUT["benign"])
def test_held_out_benign_text_survives(text: str) -> None:
    for region in ("DE", None, "US", "FR", "JP"):
        assert scrub(text, region=region) == ScrubResult(text=text, redactions=())


def test_deterministic_and_empty() -> None:
    text = PII[0]["text"]
    assert scrub(text, region="DE") == scrub(text, region="DE")
    assert scrub("") == ScrubResult(text="", redactions=())
    assert scrub("plain words only") == ScrubResult(text="plain words only", redactions=())


def test_unknown_region_hint_is_harmless() -> None:
    for region in ("", "zz", "XX", "deu", "1"):
        assert scrub("call +49 89 4132 7788", region=region).text == "call [phone removed]"


def test_markers_in_the_input_are_left_alone() -> None:
    text = "already [phone removed] and [link removed]"
    assert scrub(text, region="DE") == ScrubResult(text=text, redactions=())


_PII_SNIPPETS = [e["secret"] for e in PII if e["secret"] == e["secret"].strip()] + [
    "2023 1800 EUR",
    "20.12.2026",
    "@",
    "＠",
    " at ",
    " ät ",
    " dot ",
    " punkt ",
    "(at)",
    "[dot]",
    "(.)",
    "+49 ",
    "0151 ",
    "０１５１",
    "\u200b",
    "\u00ad",
    "\u0301",
    "ﬁ",
    "。",
    "www.",
    "https://",
    ".com",
    ".de/",
    "1,800.00",
    "€1.650",
    " Straße ",
    "platz ",
    " rue ",
    "Via ",
    " Street",
    "instagram: ",
    "DE89 ",
    "4111 ",
    "[phone removed]",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(st.one_of(st.text(max_size=40), st.sampled_from(_PII_SNIPPETS)), max_size=8),
    region=st.sampled_from([None, "DE", "US", "GB", "IN", "CN", "RU", "zz"]),
)
# found by a CI run: a street "name" taken from the tail of a card number ("…4001A Straße 1")
# hid the card until the address was replaced
@example(parts=["37000023354001", "A STRAßE 1", "A0 STRAßE 1", "A0 STRAßE 1"], region=None)
def test_scrub_never_raises_and_is_idempotent(parts: list[str], region: str | None) -> None:
    text = "".join(parts)
    first = scrub(text, region=region)
    assert _rebuild(text, first.redactions) == first.text
    for r in first.redactions:
        assert 0 <= r.start < r.end <= len(text)
    second = scrub(first.text, region=region)
    assert second.text == first.text
    assert second.redactions == ()


# -------------------------------------------------------------------------- attribute keys


def test_attribute_keys_are_scrubbed_and_stay_unique() -> None:
    text = public_text(
        "Camera wanted",
        None,
        {
            "call-015123456789": "yes",
            "call-017612345678": "also",
            "ada-lovelace.com": "shop",
            "colour": "black",
        },
        region="DE",
    )
    assert text.attributes == {
        "call-[phone removed]": "yes",
        "call-[phone removed] (2)": "also",
        "[link removed]": "shop",
        "colour": "black",
    }
    fields = {(r.field, r.kind) for r in text.redactions}
    assert fields == {
        ("attribute_keys.call-015123456789", "phone"),
        ("attribute_keys.call-017612345678", "phone"),
        ("attribute_keys.ada-lovelace.com", "url"),
    }
    assert "0151" not in json.dumps(text.attributes)


def test_a_clean_key_keeps_its_name_when_a_scrubbed_one_would_take_it() -> None:
    text = public_text("t", None, {"ada-lovelace.com": "x", "[link removed]": "y"}, region="DE")
    assert text.attributes == {"[link removed] (2)": "x", "[link removed]": "y"}


def test_values_of_a_scrubbed_key_are_scrubbed_under_the_buyers_key() -> None:
    text = public_text("t", None, {"ada-lovelace.com": ["ada@example.org"]}, region="DE")
    assert text.attributes == {"[link removed]": ["[email removed]"]}
    assert {r.field for r in text.redactions} == {
        "attribute_keys.ada-lovelace.com",
        "attributes.ada-lovelace.com[0]",
    }


# ---------------------------------------------------------------------------- linear time


def _cycle(unit: str) -> Callable[[int, random.Random], str]:
    return lambda n, rng: (unit * (n // len(unit) + 1))[:n]


def _numbers(make: Callable[[random.Random], str]) -> Callable[[int, random.Random], str]:
    def generate(n: int, rng: random.Random) -> str:
        out: list[str] = []
        while sum(map(len, out)) + len(out) - 1 < n:  # joined length
            out.append(make(rng))
        return " ".join(out)[:n]

    return generate


def _random_digits(rng: random.Random, k: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(k))


# Inputs that made the old scrubber backtrack, and the densest inputs for each detector.
HOSTILE: dict[str, Callable[[int, random.Random], str]] = {
    "a(.)": _cycle("a(.)"),
    "a{.}": _cycle("a{.}"),
    "a[dot]": _cycle("a[dot]"),
    "a dot ": _cycle("a dot "),
    "a at ": _cycle("a at "),
    "a at a dot ": _cycle("a at a dot "),
    "a(at)b(dot)": _cycle("a(at)b(dot)"),
    "@": _cycle("@"),
    "a@": _cycle("a@"),
    "a@b.": _cycle("a@b."),
    "x@y.de ": _cycle("x@y.de "),
    ". ": _cycle(". "),
    "a.": _cycle("a."),
    "a.com ": _cycle("a.com "),
    "1.2.": _cycle("1.2."),
    "digits": _cycle("1"),
    "0 ": _cycle("0 "),
    "1 ": _cycle("1 "),
    "0-": _cycle("0-"),
    "0151 ": _cycle("0151 "),
    "+12 ": _cycle("+12 "),
    "(": _cycle("("),
    "(0) ": _cycle("(0) "),
    "random national numbers": _numbers(lambda r: _random_digits(r, 9)),
    "random trunk numbers": _numbers(lambda r: "0" + _random_digits(r, 10)),
    "random international numbers": _numbers(lambda r: "+" + _random_digits(r, 11)),
    "random 3-3-4 groups": _numbers(
        lambda r: f"{_random_digits(r, 3)} {_random_digits(r, 3)} {_random_digits(r, 4)}"
    ),
    "random card-like groups": _numbers(lambda r: " ".join(_random_digits(r, 4) for _ in range(4))),
    "DE89 ": _cycle("DE89 "),
    "4111 ": _cycle("4111 "),
    "Abcstraße 1 ": _cycle("Abcstraße 1 "),
    "1 Abc Abc Abc ": _cycle("1 Abc Abc Abc "),
    "Via A A A A ": _cycle("Via A A A A "),
    "12 rue ": _cycle("12 rue "),
    "instagram: ": _cycle("instagram: "),
    "＠": _cycle("＠"),
    "zero-width digits": _cycle("1\u200b"),
    "full-width digits": _cycle("０１５１ "),
    "a-": _cycle("a-"),
    "a ": _cycle("a "),
    "a": _cycle("a"),
    "http://": _cycle("http://"),
    "www.": _cycle("www."),
    "ﬁ": _cycle("ﬁ"),
    "combining marks": _cycle("e\u0301"),
    "mixed": _cycle("a(.)b@c 0151 x.y [dot] 12 rue Via ＠a "),
}
# The field limits: description and relay message 5000, title 200, attribute value 200.
FIELD_SIZES = (5000, 200)


def _seconds(fn: Callable[[], object], tries: int = 3) -> float:
    best = float("inf")
    for _ in range(tries):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_text_at_the_field_limits_scrubs_in_linear_time(name: str) -> None:
    """A bound, not a benchmark: 100 ms is many times the measured cost (see the module
    docstring); the old quadratic scrubber took over a second for "a(.)" * 1250."""
    rng = random.Random(name)
    scrub(HOSTILE[name](5000, rng), region="DE")  # first use compiles the phone tables
    for size in FIELD_SIZES:
        text = HOSTILE[name](size, rng)
        assert len(text) == size
        assert _seconds(lambda text=text: scrub(text, region="DE")) < 0.100, (name, size)


@pytest.mark.parametrize(
    "name", ["a(.)", "random trunk numbers", "random card-like groups", "x@y.de ", "Abcstraße 1 "]
)
def test_the_largest_intent_body_scrubs_in_bounded_time(name: str) -> None:
    """Title 200, description 5000, attributes at their 10,000-character total: a guard on
    the complexity class (the old scrubber took 2.4 s for "a(.)" bodies), not the speed
    target, which ``make bench-scrubbing`` measures (``bench/RESULTS.md``)."""
    rng = random.Random(name)
    make = HOSTILE[name]
    attributes = {f"k{i:02d}": [make(110, rng) for _ in range(3)] for i in range(30)}
    check_attribute_text(attributes)  # the largest the rules allow
    title, description = make(200, rng), make(5000, rng)
    public_text(title, description, attributes, region="DE")
    assert _seconds(lambda: public_text(title, description, attributes, region="DE"), 2) < 0.5


# ------------------------------------------------------------------------ off the event loop


def test_long_texts_are_scrubbed_on_a_worker_thread_and_short_ones_inline() -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def record(text: str) -> str:
        seen.append(threading.get_ident())
        return text

    async def run() -> None:
        await offload.off_loop(offload.INLINE_LIMIT - 1, record, "short")
        await offload.off_loop(offload.INLINE_LIMIT, record, "long")
        result = await offload.scrub_text("x" * 3000 + " 0151 23456789", region="DE")
        assert result.text.endswith("[phone removed]")

    asyncio.run(run())
    assert seen[0] == loop_thread and seen[1] != loop_thread
    assert offload.text_size("ab", None, attributes={"k": ["xy", "z"], "kk": "v"}) == 9
