"""Intent rules without a database: the status state machine, patches, budget, location,
expiry and terms checks, and building an intent from a buyer's draft."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import h3
import msgspec
import pytest

from intentcast.domain.errors import IllegalTransition, RuleViolation, StateConflict
from intentcast.domain.intents import (
    BudgetDraft,
    Intent,
    IntentPatch,
    LocationDraft,
    Terms,
    TermsDraft,
    apply_patch,
    check_attribute_text,
    check_budget,
    check_expiry,
    check_location,
    check_needed_by,
    check_transition,
    default_terms,
    event_for_status,
    is_live,
    merge_terms,
    public_text,
)
from tests.unit.domain.factories import MUNICH, NOW, POLICY, build, draft, make_intent

CYPRUS_MOBILE = "96 123456"  # a phone number only under Cyprus's numbering plan
STATUSES = ("open", "paused", "withdrawn", "fulfilled", "expired", "removed")
CLOSED = ("withdrawn", "fulfilled", "expired", "removed")


def patch(intent: Intent, region: str | None = None, **fields: Any) -> tuple[Intent, str | None]:
    return apply_patch(intent, IntentPatch(**fields), region=region, now=NOW, policy=POLICY)


# ---- the status state machine ------------------------------------------------------------

ALLOWED = {
    ("open", "paused"),
    ("open", "withdrawn"),
    ("open", "fulfilled"),
    ("open", "expired"),
    ("open", "removed"),
    ("paused", "open"),
    ("paused", "withdrawn"),
    ("paused", "fulfilled"),
    ("paused", "expired"),
    ("paused", "removed"),
}


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_allowed_transitions_pass(current: str, target: str) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [(c, t) for c in STATUSES for t in STATUSES if (c, t) not in ALLOWED],
)
def test_every_other_transition_is_refused_as_a_conflict(current: str, target: str) -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition(current, target)
    assert isinstance(caught.value, StateConflict)
    assert caught.value.code == "illegal-transition"
    assert (caught.value.current, caught.value.target) == (current, target)
    assert str(caught.value) == f"an intent that is {current} cannot become {target}"


def test_an_unknown_status_goes_nowhere() -> None:
    with pytest.raises(IllegalTransition):
        check_transition("draft", "open")


@pytest.mark.parametrize("status", STATUSES)
def test_only_open_and_paused_are_live(status: str) -> None:
    assert is_live(status) is (status in {"open", "paused"})


@pytest.mark.parametrize(
    ("status", "event"),
    [
        ("open", "intent.updated"),
        ("paused", "intent.updated"),
        ("withdrawn", "intent.closed"),
        ("fulfilled", "intent.closed"),
        ("expired", "intent.closed"),
        ("removed", "intent.closed"),
    ],
)
def test_a_live_status_records_an_update_and_any_other_a_close(status: str, event: str) -> None:
    assert event_for_status(status) == event


# ---- budget -------------------------------------------------------------------------------


def budget(**fields: Any) -> BudgetDraft:
    values = {"currency": "EUR"} | {
        k: Decimal(v) if isinstance(v, str) else v for k, v in fields.items()
    }
    return BudgetDraft(**values)


def test_no_budget_is_no_budget() -> None:
    assert check_budget(None) is None


def test_a_valid_budget_is_kept_as_given() -> None:
    checked = check_budget(budget(min="100", max="1800.50", visible=False))
    assert checked is not None
    assert (checked.currency, checked.min, checked.max, checked.visible) == (
        "EUR",
        Decimal("100"),
        Decimal("1800.50"),
        False,
    )


@pytest.mark.parametrize("amount", ["0", "0.001", "999999999999.999", "1E+3", "1800.000", "1800"])
def test_amounts_up_to_three_decimals_and_below_a_trillion_pass(amount: str) -> None:
    checked = check_budget(budget(max=amount))
    assert checked is not None and checked.max == Decimal(amount)


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("-5", "must be a non-negative amount below 10^12"),
        ("-0.001", "must be a non-negative amount below 10^12"),
        ("NaN", "must be a non-negative amount below 10^12"),
        ("sNaN", "must be a non-negative amount below 10^12"),
        ("Infinity", "must be a non-negative amount below 10^12"),
        ("-Infinity", "must be a non-negative amount below 10^12"),
        ("1000000000000", "must be a non-negative amount below 10^12"),
        ("1.23456", "at most 3 decimal places"),
        ("0.0001", "at most 3 decimal places"),
    ],
)
@pytest.mark.parametrize("bound", ["min", "max"])
def test_a_bad_amount_names_its_bound(amount: str, message: str, bound: str) -> None:
    with pytest.raises(RuleViolation) as caught:
        check_budget(budget(**{bound: amount}))
    assert caught.value.field == f"budget.{bound}"
    assert caught.value.message == message


def test_a_minimum_above_the_maximum_is_blamed_on_the_minimum() -> None:
    with pytest.raises(RuleViolation) as caught:
        check_budget(budget(min="10", max="5"))
    assert caught.value.field == "budget.min"
    assert caught.value.message == "must not exceed max"


def test_a_minimum_equal_to_the_maximum_is_a_fixed_price() -> None:
    checked = check_budget(budget(min="5", max="5"))
    assert checked is not None and checked.min == checked.max == Decimal(5)


@pytest.mark.parametrize("currency", ["XYZ", "EUX", "ABC"])
def test_a_currency_outside_iso_4217_is_refused(currency: str) -> None:
    with pytest.raises(RuleViolation) as caught:
        check_budget(BudgetDraft(currency=currency, max=Decimal(5)))
    assert caught.value.field == "budget.currency"
    assert currency in caught.value.message


def test_budget_violations_use_the_callers_field_name() -> None:
    with pytest.raises(RuleViolation) as caught:
        check_budget(budget(max="-1"), field="offer.budget")
    assert caught.value.field == "offer.budget.max"


# ---- location -----------------------------------------------------------------------------


def test_no_location_is_no_location() -> None:
    assert check_location(None, 7) is None


def test_a_point_without_precision_lands_on_the_floor() -> None:
    location = check_location(LocationDraft(lat=MUNICH[0], lng=MUNICH[1]), 7)
    assert location is not None
    assert location.cell == h3.latlng_to_cell(*MUNICH, 7)
    assert location.country is None


@pytest.mark.parametrize(
    ("precision", "floor", "expected"), [(5, 7, 5), (7, 7, 7), (9, 7, 7), (15, 0, 0)]
)
def test_a_point_is_kept_at_its_precision_but_never_finer_than_the_floor(
    precision: int, floor: int, expected: int
) -> None:
    location = check_location(
        LocationDraft(lat=MUNICH[0], lng=MUNICH[1], precision=precision), floor
    )
    assert location is not None and location.cell is not None
    assert location.cell == h3.latlng_to_cell(*MUNICH, expected)


def test_a_country_alone_is_a_location_without_a_cell() -> None:
    location = check_location(LocationDraft(country="DE"), 7)
    assert location is not None and (location.cell, location.country) == (None, "DE")


def test_a_point_and_a_country_are_both_kept() -> None:
    location = check_location(LocationDraft(lat=MUNICH[0], lng=MUNICH[1], country="DE"), 7)
    assert location is not None
    assert (location.cell, location.country) == (h3.latlng_to_cell(*MUNICH, 7), "DE")


@pytest.mark.parametrize(
    ("location", "field"),
    [
        (LocationDraft(lat=48.1), "location.lng"),
        (LocationDraft(lng=11.5), "location.lat"),
        (LocationDraft(lat=48.1, country="DE"), "location.lng"),
        (LocationDraft(), "location"),
        (LocationDraft(precision=5), "location"),
        (LocationDraft(precision=5, country="DE"), "location.precision"),
        (LocationDraft(country="XX"), "location.country"),
        (LocationDraft(lat=48.1, lng=11.5, country="XX"), "location.country"),
    ],
)
def test_an_incomplete_location_names_what_is_wrong(location: LocationDraft, field: str) -> None:
    with pytest.raises(RuleViolation) as caught:
        check_location(location, 7)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "point", [(90.0, 180.0), (-90.0, -180.0), (0.0, 0.0), (89.9999, -179.9999)]
)
def test_the_extremes_of_the_coordinate_ranges_are_places(point: tuple[float, float]) -> None:
    location = check_location(LocationDraft(lat=point[0], lng=point[1]), 7)
    assert location is not None and location.cell == h3.latlng_to_cell(*point, 7)


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"lat": 90.001, "lng": 0}, "$.lat"),
        ({"lat": -90.001, "lng": 0}, "$.lat"),
        ({"lat": 0, "lng": 180.001}, "$.lng"),
        ({"lat": 0, "lng": -180.001}, "$.lng"),
        ({"lat": 0, "lng": 0, "precision": 16}, "$.precision"),
        ({"lat": 0, "lng": 0, "precision": -1}, "$.precision"),
        ({"country": "de"}, "$.country"),
    ],
)
def test_coordinates_outside_their_ranges_are_malformed(fields: dict[str, Any], path: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=rf"at `\{path}`"):
        msgspec.convert(fields, LocationDraft)


# ---- expiry and needed-by -----------------------------------------------------------------


def test_no_expiry_means_the_default_number_of_days() -> None:
    assert check_expiry(None, now=NOW, policy=POLICY) == NOW + timedelta(days=14)


@pytest.mark.parametrize(
    "expires_at",
    [
        NOW - timedelta(days=1),
        NOW,
        NOW + timedelta(seconds=59),
        NOW + timedelta(minutes=1),
    ],
)
def test_an_expiry_within_a_minute_of_now_is_refused(expires_at: datetime) -> None:
    with pytest.raises(RuleViolation) as caught:
        check_expiry(expires_at, now=NOW, policy=POLICY)
    assert caught.value.field == "expires_at"
    assert caught.value.message == "must be in the future"


def test_an_expiry_just_past_the_one_minute_margin_is_accepted() -> None:
    moment = NOW + timedelta(minutes=1, microseconds=1)
    assert check_expiry(moment, now=NOW, policy=POLICY) == moment


def test_an_expiry_exactly_at_the_maximum_is_accepted() -> None:
    moment = NOW + timedelta(days=90)
    assert check_expiry(moment, now=NOW, policy=POLICY) == moment


def test_an_expiry_past_the_maximum_is_refused() -> None:
    with pytest.raises(RuleViolation) as caught:
        check_expiry(NOW + timedelta(days=90, microseconds=1), now=NOW, policy=POLICY)
    assert caught.value.field == "expires_at"
    assert caught.value.message == "at most 90 days ahead"


def test_an_expiry_in_another_zone_is_stored_in_utc() -> None:
    tokyo = datetime(2026, 5, 10, 9, tzinfo=timezone(timedelta(hours=9)))
    stored = check_expiry(tokyo, now=NOW, policy=POLICY)
    assert stored == tokyo
    assert stored.tzinfo is UTC and stored.hour == 0


def test_needed_by_today_or_later_is_kept_and_earlier_is_refused() -> None:
    assert check_needed_by(None, now=NOW) is None
    assert check_needed_by(NOW.date(), now=NOW) == NOW.date()
    assert check_needed_by(date(2026, 6, 1), now=NOW) == date(2026, 6, 1)
    with pytest.raises(RuleViolation) as caught:
        check_needed_by(NOW.date() - timedelta(days=1), now=NOW)
    assert caught.value.field == "needed_by"


# ---- terms --------------------------------------------------------------------------------


def test_default_terms_protect_the_buyer_for_the_retention_period() -> None:
    assert default_terms(45) == Terms(
        no_tracking=True, no_resale=True, contact_via_relay_only=True, retention_days=45
    )


def test_no_override_keeps_the_base_terms() -> None:
    base = default_terms(30)
    assert merge_terms(base, None) is base


def test_overrides_replace_only_the_fields_given() -> None:
    merged = merge_terms(default_terms(30), TermsDraft(retention_days=7))
    assert merged == Terms(retention_days=7)


def test_an_override_to_false_is_an_override_not_an_absence() -> None:
    merged = merge_terms(default_terms(30), TermsDraft(no_tracking=False, no_resale=False))
    assert (merged.no_tracking, merged.no_resale, merged.contact_via_relay_only) == (
        False,
        False,
        True,
    )


# ---- vendors' copy of the text ------------------------------------------------------------


def test_public_text_scrubs_every_free_text_field_and_says_where() -> None:
    text = public_text(
        "Bike, mail ada@example.org",
        "Or see https://example.com/bike",
        {"colour": "red", "contact": ["x", "ada@example.org"]},
        region=None,
    )
    assert text.title == "Bike, mail [email removed]"
    assert text.description == "Or see [link removed]"
    assert text.attributes == {"colour": "red", "contact": ["x", "[email removed]"]}
    assert [(r.kind, r.field) for r in text.redactions] == [
        ("email", "title"),
        ("url", "description"),
        ("email", "attributes.contact[1]"),
    ]


def test_public_text_keeps_an_absent_description_absent() -> None:
    assert public_text("A bike", None, {}, region=None).description is None


# ---- building an intent from a draft -------------------------------------------------------


def test_a_new_intent_is_open_at_version_one_published_now() -> None:
    intent = build(intent_id="int_abc", buyer_id="byr_xyz")
    assert (intent.id, intent.buyer_id, intent.status, intent.version) == (
        "int_abc",
        "byr_xyz",
        "open",
        1,
    )
    assert intent.published_at == intent.updated_at == NOW


def test_a_new_intent_takes_the_resolved_category_not_the_one_typed() -> None:
    intent = build(draft(category="gpc:152"), category="electronics/cameras/mirrorless")
    assert intent.category == "electronics/cameras/mirrorless"


def test_a_new_intent_keeps_the_original_text_for_its_buyer_and_scrubs_the_vendors_copy() -> None:
    d = draft(title="Sony A7 IV, mail ada@example.org", attributes={"note": "ada@example.org"})
    intent = build(d)
    assert intent.title == "Sony A7 IV, mail ada@example.org"
    assert intent.public_title == "Sony A7 IV, mail [email removed]"
    assert intent.attributes == {"note": "ada@example.org"}
    assert intent.public_attributes == {"note": "[email removed]"}
    assert [r.field for r in intent.redactions] == ["title", "attributes.note"]


def test_a_new_intent_checks_and_stores_its_budget_location_and_expiry() -> None:
    intent = build()
    assert intent.budget is not None
    assert (intent.budget.currency, intent.budget.max, intent.budget.visible) == (
        "EUR",
        Decimal("1800.00"),
        True,
    )
    assert intent.location is not None
    assert intent.location.cell == h3.latlng_to_cell(*MUNICH, 7)  # precision 9 clamped
    assert intent.location.country == "DE"
    assert intent.expires_at == NOW + timedelta(days=14)
    assert intent.needed_by is None


def test_a_new_intent_names_each_fulfilment_mode_once_in_the_buyers_order() -> None:
    intent = build(draft(fulfilment=["pickup", "delivery", "pickup"]))
    assert intent.fulfilment == ["pickup", "delivery"]


def test_a_new_intent_gets_default_terms_from_the_policy_with_the_buyers_overrides() -> None:
    policy = msgspec.structs.replace(POLICY, retention_days=60)
    assert build(policy=policy).terms == Terms(retention_days=60)
    overridden = build(draft(terms={"no_resale": False}), policy=policy)
    assert overridden.terms == Terms(no_resale=False, retention_days=60)


def test_the_intents_own_country_chooses_the_phone_rules_over_the_request_region() -> None:
    title = f"Reply to {CYPRUS_MOBILE}"
    in_cyprus = build(draft(title=title, location={"country": "CY"}), region=None)
    assert CYPRUS_MOBILE not in in_cyprus.public_title
    in_germany = build(draft(title=title, location={"country": "DE"}), region="CY")
    assert CYPRUS_MOBILE in in_germany.public_title
    no_country = build(draft(title=title, location=None), region="CY")
    assert CYPRUS_MOBILE not in no_country.public_title


# The domain-rule (422) cases formerly in tests/api/test_intents.py's
# test_bad_intents_name_the_field, same JSON, same field.
@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"budget": {"min": "10", "max": "5", "currency": "EUR"}}, "budget.min"),
        ({"budget": {"max": "5", "currency": "XYZ"}}, "budget.currency"),
        ({"budget": {"max": "-5", "currency": "EUR"}}, "budget.max"),
        ({"budget": {"max": "1.23456", "currency": "EUR"}}, "budget.max"),
        ({"budget": {"max": "NaN", "currency": "EUR"}}, "budget.max"),
        ({"location": {"lat": 48.1}}, "location.lng"),
        ({"location": {"country": "XX"}}, "location.country"),
        ({"location": {}}, "location"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "2999-01-01T00:00:00Z"}, "expires_at"),
        ({"needed_by": "2001-01-01"}, "needed_by"),
    ],
)
def test_a_draft_breaking_a_rule_names_the_field(override: dict[str, Any], field: str) -> None:
    with pytest.raises(RuleViolation) as caught:
        build(draft(**override))
    assert caught.value.field == field


# ---- patches ------------------------------------------------------------------------------


def test_a_patch_that_changes_nothing_records_no_event() -> None:
    intent = make_intent()
    assert patch(intent, title=intent.title) == (intent, None)
    assert patch(intent) == (intent, None)
    assert patch(intent, status="open", quantity=intent.quantity) == (intent, None)


@pytest.mark.parametrize("status", CLOSED)
def test_a_closed_intent_cannot_be_edited(status: str) -> None:
    with pytest.raises(StateConflict) as caught:
        patch(make_intent(status=status), title="New title")
    assert caught.value.code == "intent-closed"
    assert status in str(caught.value)


@pytest.mark.parametrize("status", CLOSED)
def test_a_closed_intent_cannot_be_reopened(status: str) -> None:
    with pytest.raises(IllegalTransition):
        patch(make_intent(status=status), status="open")


def test_repeating_a_closed_intents_status_is_harmless() -> None:
    intent = make_intent(status="withdrawn")
    assert patch(intent, status="withdrawn") == (intent, None)


def test_a_paused_intent_can_still_be_edited() -> None:
    updated, event = patch(make_intent(status="paused"), quantity=3)
    assert (updated.quantity, updated.status, event) == (3, "paused", "intent.updated")


@pytest.mark.parametrize(
    ("before", "after", "event"),
    [
        ("open", "paused", "intent.updated"),
        ("paused", "open", "intent.updated"),
        ("open", "withdrawn", "intent.closed"),
        ("paused", "withdrawn", "intent.closed"),
    ],
)
def test_a_status_change_records_the_matching_event(before: str, after: str, event: str) -> None:
    updated, recorded = patch(make_intent(status=before), status=after)
    assert (updated.status, recorded) == (after, event)
    assert updated.updated_at == NOW


def test_a_change_stamps_the_time_and_leaves_the_rest_alone() -> None:
    intent = make_intent(updated_at=NOW - timedelta(days=1))
    updated, event = patch(intent, quantity=4)
    assert event == "intent.updated"
    assert updated == msgspec.structs.replace(intent, quantity=4, updated_at=NOW)


def test_withdrawing_and_editing_in_one_patch_closes_with_the_edit() -> None:
    updated, event = patch(make_intent(), status="withdrawn", quantity=2)
    assert (updated.status, updated.quantity, event) == ("withdrawn", 2, "intent.closed")


def test_new_text_is_scrubbed_again() -> None:
    updated, event = patch(make_intent(), title="Now mail ada@example.org")
    assert event == "intent.updated"
    assert updated.title == "Now mail ada@example.org"
    assert updated.public_title == "Now mail [email removed]"
    assert [(r.kind, r.field) for r in updated.redactions] == [("email", "title")]


def test_text_is_not_scrubbed_again_when_no_text_changed() -> None:
    intent = make_intent(public_title="stale copy", redactions=[])
    updated, _ = patch(intent, quantity=2, fulfilment=["delivery"])
    assert updated.public_title == "stale copy"
    rescrubbed, _ = patch(intent, description="Other description")
    assert rescrubbed.public_title == intent.title


def test_clearing_the_description_clears_the_vendors_copy() -> None:
    updated, event = patch(make_intent(), description=None)
    assert (updated.description, updated.public_description, event) == (
        None,
        None,
        "intent.updated",
    )


def test_a_patch_rescrubs_under_the_intents_country_before_the_request_region() -> None:
    intent = make_intent(location=None)
    in_cyprus = msgspec.structs.replace(
        intent, location=check_location(LocationDraft(country="CY"), 7)
    )
    title = f"Reply to {CYPRUS_MOBILE}"
    assert CYPRUS_MOBILE not in patch(in_cyprus, title=title)[0].public_title
    assert CYPRUS_MOBILE not in patch(intent, region="CY", title=title)[0].public_title
    assert CYPRUS_MOBILE in patch(intent, region=None, title=title)[0].public_title


def test_a_patched_expiry_obeys_the_expiry_rules() -> None:
    later = NOW + timedelta(days=30)
    assert patch(make_intent(), expires_at=later)[0].expires_at == later
    with pytest.raises(RuleViolation) as caught:
        patch(make_intent(), expires_at=NOW)
    assert caught.value.field == "expires_at"


def test_a_patched_budget_obeys_the_budget_rules_and_null_clears_it() -> None:
    with pytest.raises(RuleViolation) as caught:
        patch(make_intent(), budget=budget(min="10", max="5"))
    assert caught.value.field == "budget.min"
    cleared, event = patch(make_intent(), budget=None)
    assert (cleared.budget, event) == (None, "intent.updated")
    raised, _ = patch(make_intent(), budget=budget(max="2000"))
    assert raised.budget is not None and raised.budget.max == Decimal(2000)


def test_a_patched_needed_by_must_not_be_in_the_past() -> None:
    with pytest.raises(RuleViolation) as caught:
        patch(make_intent(), needed_by=date(2026, 4, 30))
    assert caught.value.field == "needed_by"
    assert patch(make_intent(), needed_by=date(2026, 5, 2))[0].needed_by == date(2026, 5, 2)


def test_patched_terms_merge_into_the_intents_current_terms() -> None:
    intent = make_intent(terms=Terms(retention_days=7))
    updated, _ = patch(intent, terms=TermsDraft(no_resale=False))
    assert updated.terms == Terms(no_resale=False, retention_days=7)


def test_patched_fulfilment_names_each_mode_once() -> None:
    updated, _ = patch(make_intent(), fulfilment=["onsite", "digital", "onsite"])
    assert updated.fulfilment == ["onsite", "digital"]


def test_a_patch_repeating_the_fulfilment_in_another_order_is_a_change() -> None:
    intent = make_intent()
    assert intent.fulfilment == ["pickup", "delivery"]
    updated, event = patch(intent, fulfilment=["delivery", "pickup", "delivery"])
    assert (updated.fulfilment, event) == (["delivery", "pickup"], "intent.updated")
    assert patch(intent, fulfilment=["pickup", "delivery", "pickup"]) == (intent, None)


def test_attributes_hold_at_most_ten_thousand_characters_in_all() -> None:
    """The bound that keeps scrubbing one intent under 100 ms however hostile its text."""
    within = {f"k{i:02d}": ["x" * 110] * 3 for i in range(30)}  # 30 * (3 + 330) = 9,990
    assert check_attribute_text(within) is None
    over = within | {"k00": ["x" * 110] * 3 + ["y" * 11]}  # 10,001
    with pytest.raises(RuleViolation) as caught:
        check_attribute_text(over)
    assert caught.value.field == "attributes"
    patch = IntentPatch(attributes=over)
    with pytest.raises(RuleViolation):
        apply_patch(make_intent(), patch, region=None, now=NOW, policy=POLICY)
