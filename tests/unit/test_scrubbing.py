"""Free-text scrubbing: recall on contact data, precision on ordinary buyer text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentcast.domain.scrubbing import MARKERS, Redaction, ScrubResult, scrub

CORPUS = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "pii_corpus.json").read_text("utf-8")
)
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
)


def _pii_id(entry: dict) -> str:
    return f"{entry['kind']}:{entry['secret']}"


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _national_significant_number(secret: str, region: str | None) -> str:
    """The number's digits without country code or trunk prefix."""
    for candidate_region in (region, *FALLBACK_REGIONS):
        try:
            parsed = phonenumbers.parse(secret, candidate_region)
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


def test_corpus_size() -> None:
    kinds = [e["kind"] for e in PII]
    assert len({e["text"] for e in PII}) == len(PII) >= 40
    assert kinds.count("phone") >= 15
    assert kinds.count("email") >= 12
    assert kinds.count("url") >= 8
    assert kinds.count("handle") >= 4
    assert len({e["region"] for e in PII if e["kind"] == "phone"}) >= 8
    assert len(set(BENIGN)) == len(BENIGN) >= 30
    for entry in PII:
        assert entry["secret"] in entry["text"]


@pytest.mark.parametrize("entry", PII, ids=_pii_id)
def test_pii_is_removed(entry: dict) -> None:
    text, secret, kind = entry["text"], entry["secret"], entry["kind"]
    result = scrub(text, region=entry["region"], field="description")

    assert secret not in result.text
    assert MARKERS[kind] in result.text
    # A redaction of the right kind covers the secret, with offsets into the original text.
    at = text.index(secret)
    covering = [
        r
        for r in result.redactions
        if r.kind == kind and r.start <= at and r.end >= at + len(secret)
    ]
    assert covering, result.redactions
    assert all(r.field == "description" for r in result.redactions)
    assert _rebuild(text, result.redactions) == result.text

    if kind == "phone":
        scrubbed_digits = _digits(result.text)
        assert _digits(secret) not in scrubbed_digits
        nsn = _national_significant_number(secret, entry["region"])
        assert len(nsn) >= 7
        assert nsn not in scrubbed_digits


@pytest.mark.parametrize("region", ["DE", None, "US", "GB", "FR", "IN", "BR", "zz"])
@pytest.mark.parametrize("text", BENIGN)
def test_benign_text_survives(text: str, region: str | None) -> None:
    result = scrub(text, region=region)
    assert result == ScrubResult(text=text, redactions=())


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


def test_deterministic_and_empty() -> None:
    text = PII[0]["text"]
    assert scrub(text, region="DE") == scrub(text, region="DE")
    assert scrub("") == ScrubResult(text="", redactions=())
    assert scrub("plain words only") == ScrubResult(text="plain words only", redactions=())


def test_unknown_region_hint_is_harmless() -> None:
    for region in ("", "zz", "XX", "deu", "1"):
        assert scrub("call +49 89 4132 7788", region=region).text == "call [phone removed]"


_PII_SNIPPETS = [e["secret"] for e in PII if e["secret"] == e["secret"].strip()] + [
    "2023 1800 EUR",
    "20.12.2026",
    "@",
    " at ",
    " dot ",
    "(at)",
    "[dot]",
    "+49 ",
    "0151 ",
    "www.",
    "https://",
    ".com",
    ".de/",
    "1,800.00",
    "€1.650",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(st.one_of(st.text(max_size=40), st.sampled_from(_PII_SNIPPETS)), max_size=8),
    region=st.sampled_from([None, "DE", "US", "GB", "IN", "zz"]),
)
def test_scrub_never_raises_and_is_idempotent(parts: list[str], region: str | None) -> None:
    text = "".join(parts)
    first = scrub(text, region=region)
    assert _rebuild(text, first.redactions) == first.text
    for r in first.redactions:
        assert 0 <= r.start < r.end <= len(text)
    second = scrub(first.text, region=region)
    assert second.text == first.text
    assert second.redactions == ()
