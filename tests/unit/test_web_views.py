"""The web pages' pure helpers: the preview's redaction marking, the coarse area, the
``next`` target after sign-in, and the form-to-draft conversion the compose page shares
with the JSON API's ``IntentDraft``."""

from __future__ import annotations

import msgspec
import pytest

from intentcast.domain.location import cell_for
from intentcast.domain.scrubbing import Redaction
from intentcast.domain.vendor_view import VendorLocation
from intentcast.web.intents import DRAFT_FIELDS, draft_from_form
from intentcast.web.session import safe_next
from intentcast.web.views import area_of, marked_segments


def test_marked_segments_cut_the_text_at_each_redaction_of_the_field() -> None:
    text = "Call +49 89 4132 7788 or mail a@b.de"
    redactions = [
        Redaction("email", 30, 36, "description"),
        Redaction("phone", 5, 21, "description"),
        Redaction("phone", 0, 4, "title"),  # another field: ignored here
    ]
    assert marked_segments(text, redactions, "description") == [
        ("Call ", None),
        ("+49 89 4132 7788", "phone"),
        (" or mail ", None),
        ("a@b.de", "email"),
    ]
    assert marked_segments("plain", [], "description") == [("plain", None)]


def test_area_names_the_cell_size_and_country() -> None:
    cell = cell_for(48.137, 11.575, 7, 7)
    area = area_of(VendorLocation(cell=cell, resolution=7, country="DE"))
    assert area == {"country": "DE", "cell": cell, "resolution": 7, "km2": "5.2"}
    assert area_of(VendorLocation(cell=None, resolution=None, country="FR")) == {
        "country": "FR",
        "cell": None,
    }
    assert area_of(None) is None


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/intents/int_1?sort=price", "/intents/int_1?sort=price"),
        ("//evil.example/x", "/home"),
        ("https://evil.example/", "/home"),
        ("/\\evil.example", "/home"),
        ("", "/home"),
        (None, "/home"),
    ],
)
def test_next_stays_on_this_site(target: str | None, safe: str) -> None:
    assert safe_next(target, "/home") == safe


def test_the_compose_form_becomes_the_apis_draft() -> None:
    form = dict.fromkeys(DRAFT_FIELDS, "")
    form.update(
        category="electronics/cameras",
        title=" Camera ",
        quantity="2",
        budget_max="1800",
        currency="eur",
        budget_visible="on",
        country="de",
        lat="48.1",
        lng="11.5",
        retention_days="10",
    )
    draft = draft_from_form(form, ["pickup"])
    assert draft.title == "Camera" and draft.quantity == 2
    assert draft.budget is not None and str(draft.budget.max) == "1800"
    assert draft.budget.currency == "EUR" and draft.budget.visible
    assert draft.location is not None and draft.location.country == "DE"
    assert draft.location.precision == 7
    assert draft.terms is not None and draft.terms.retention_days == 10
    form["quantity"] = "0"
    with pytest.raises(msgspec.ValidationError, match="quantity"):
        draft_from_form(form, [])
