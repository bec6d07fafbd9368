"""Differentially private demand insights over HTTP (``/v1/vendor/insights``,
``/v1/admin/insights``): who may ask, validation naming the parameter, the privacy budget
(spent per new release, nothing for an identical query, 429 ``privacy-budget-exhausted``
when spent, whole again next week, vendors' and operators' budgets apart, no overspending
under concurrency) — never the noisy numbers — and the exact data a release is computed
from (``store/insights.py``, before any noise)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from intentcast.services import insights as service
from intentcast.store.insights import Insights
from tests.helpers import create_buyer, create_vendor, publish

URL = "/v1/vendor/insights"
ADMIN_URL = "/v1/admin/insights"
CAMERAS = {"category": "electronics/cameras", "weeks": 4}


async def _ask(client, account, url=URL, **params):
    return await client.get(url, params=params or CAMERAS, headers=account.headers)


async def test_an_answer_has_every_week_a_band_and_what_it_spent(client, vendor) -> None:
    response = await _ask(client, vendor)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["category"] == "electronics/cameras" and body["area"] is None
    weeks = [w["week_start"] for w in body["weeks"]]
    assert len(weeks) == 4 and weeks == sorted(weeks)
    this_monday = service.period_start(datetime.now(UTC))
    assert weeks[-1] == (this_monday - timedelta(weeks=1)).isoformat()
    assert all(w["intents_published"] >= 0 and w["offers_made"] >= 0 for w in body["weeks"])
    band = body["median_budget_band"]
    assert (band["min"], band["max"]) in service.BUDGET_BANDS and band["currency"] == "EUR"
    privacy = body["privacy"]
    assert privacy["cached"] is False
    assert privacy["epsilon_spent"] == privacy["epsilon"] == pytest.approx(1.0, rel=1e-2)
    assert privacy["budget"] == 4.0 and privacy["budget_spent"] == privacy["epsilon"]
    assert privacy["intents_per_buyer_week"] == service.INTENTS_PER_BUYER_WEEK
    assert privacy["resets_at"].startswith((this_monday + timedelta(weeks=1)).isoformat())


async def test_an_identical_query_returns_the_stored_release_and_spends_nothing(
    client, vendor
) -> None:
    first = (await _ask(client, vendor)).json()
    # the same query spelled differently is the same query
    again = await _ask(client, vendor, category="electronics/cameras", weeks=4, area="")
    assert again.status_code == 200, again.text
    second = again.json()
    assert second["weeks"] == first["weeks"]
    assert second["median_budget_band"] == first["median_budget_band"]
    assert second["privacy"]["cached"] is True and second["privacy"]["epsilon_spent"] == 0
    assert second["privacy"]["budget_spent"] == first["privacy"]["budget_spent"]
    other = (await _ask(client, vendor, category="electronics/cameras", weeks=5)).json()
    assert other["privacy"]["cached"] is False
    assert other["privacy"]["budget_spent"] == pytest.approx(2 * first["privacy"]["epsilon"])


async def test_a_spent_budget_refuses_new_queries_until_next_week_but_answers_old_ones(
    make_settings, make_client, db
) -> None:
    client = await make_client(make_settings(insights_epsilon=1.0, insights_budget=2.0))
    vendor = await create_vendor(client, db)
    for weeks in (1, 2):
        assert (await _ask(client, vendor, weeks=weeks)).status_code == 200
    refused = await _ask(client, vendor, weeks=3)
    assert refused.status_code == 429, refused.text
    problem = refused.json()
    assert problem["code"] == "privacy-budget-exhausted"
    assert problem["type"].endswith("privacy-budget-exhausted")
    resets_at = datetime.fromisoformat(problem["resets_at"])
    assert resets_at == service.period_end(service.period_start(datetime.now(UTC)))
    assert 0 < int(refused.headers["Retry-After"]) <= 7 * 24 * 3600
    assert problem["epsilon_spent"] == pytest.approx(2.0)
    # what was released this week is still answered, for free
    cached = await _ask(client, vendor, weeks=1)
    assert cached.status_code == 200 and cached.json()["privacy"]["cached"] is True
    # and nothing was charged for the refusal
    spent = await db.fetchval(
        "SELECT epsilon_spent FROM insight_budgets WHERE account = $1",
        service.vendor_account(vendor.id),
    )
    assert spent == pytest.approx(2.0)


async def test_each_vendor_and_the_operators_have_budgets_of_their_own(
    make_settings, make_client, db, operator
) -> None:
    client = await make_client(make_settings(insights_epsilon=1.0, insights_budget=1.0))
    first, second = await create_vendor(client, db), await create_vendor(client, db)
    assert (await _ask(client, first)).status_code == 200
    assert (await _ask(client, first, weeks=2)).status_code == 429
    assert (await _ask(client, second, weeks=2)).status_code == 200
    admin = await _ask(client, operator, ADMIN_URL, weeks=2)
    assert admin.status_code == 200, admin.text
    assert admin.json()["privacy"]["cached"] is False
    # one budget for all operators: another operator finds it spent
    from tests.helpers import create_operator

    colleague = await create_operator(db, "colleague")
    refused = await _ask(client, colleague, ADMIN_URL, weeks=3)
    assert refused.status_code == 429 and refused.json()["code"] == "privacy-budget-exhausted"
    shared = await _ask(client, colleague, ADMIN_URL, weeks=2)
    assert shared.status_code == 200 and shared.json()["privacy"]["cached"] is True


async def test_simultaneous_queries_cannot_overspend(make_settings, make_client, db) -> None:
    client = await make_client(make_settings(insights_epsilon=1.0, insights_budget=1.5))
    vendor = await create_vendor(client, db)
    answers = await asyncio.gather(*(_ask(client, vendor, weeks=w) for w in (1, 2, 3, 4)))
    assert sorted(a.status_code for a in answers) == [200, 429, 429, 429]
    spent = await db.fetchval(
        "SELECT epsilon_spent FROM insight_budgets WHERE account = $1",
        service.vendor_account(vendor.id),
    )
    assert spent == pytest.approx(1.0)


async def test_a_new_week_makes_the_budget_whole_again(db, client, vendor) -> None:
    query = service.InsightsQuery(category=None, area="DE", weeks=2)
    monday = datetime(2026, 11, 16, 9, tzinfo=UTC)
    account = service.vendor_account(vendor.id)

    async def ask(now: datetime, weeks: int = 2):
        return await service.insights(
            db,
            account=account,
            query=service.InsightsQuery(category=None, area="DE", weeks=weeks),
            epsilon=1.0,
            budget=1.0,
            now=now,
        )

    assert (await ask(monday)).privacy.cached is False
    with pytest.raises(service.PrivacyBudgetExhausted):
        await ask(monday + timedelta(days=6), weeks=3)
    # the same query in the next week is a new release, from a new budget
    next_week = await ask(monday + timedelta(days=7))
    assert next_week.privacy.cached is False
    assert next_week.privacy.period_start == (monday + timedelta(days=7)).date()
    assert next_week.privacy.budget_spent == pytest.approx(1.0)
    assert query.key == "category=*|area=DE|weeks=2"


async def test_only_verified_vendors_and_operators_may_ask(client, db, buyer, operator) -> None:
    pending = await create_vendor(client, db, verified=False)
    assert (await _ask(client, pending)).status_code == 403
    assert (await _ask(client, buyer)).status_code == 403
    assert (await client.get(URL, params=CAMERAS)).status_code == 401
    assert (await _ask(client, operator)).status_code == 403  # operators use /v1/admin
    vendor = await create_vendor(client, db)
    assert (await _ask(client, vendor, ADMIN_URL)).status_code == 403


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"category": "electronics/teleporters"}, "category"),
        ({"weeks": 0}, "weeks"),
        ({"weeks": 27}, "weeks"),
        ({"weeks": "many"}, "weeks"),
        ({"area": "XX"}, "area"),
        ({"area": "Munich"}, "area"),
        ({"area": "8a1f8d7a498ffff"}, "area"),  # resolution 10, finer than the floor (7)
    ],
)
async def test_bad_queries_are_refused_naming_the_parameter(
    client, vendor, operator, params, field
) -> None:
    for account, url in ((vendor, URL), (operator, ADMIN_URL)):
        response = await client.get(url, params=params, headers=account.headers)
        assert response.status_code == 400, response.text
        assert field in response.text
        assert response.json()["code"] == "validation-error"


async def test_a_release_counts_the_category_subtree_and_area_of_past_weeks(
    client, db, buyer, vendor
) -> None:
    """The data before noise: intents of last week in the subtree and area, per buyer."""
    other = await create_buyer(client)
    intents = [await publish(client, buyer) for _ in range(4)]
    intents.append(await publish(client, other))
    await db.execute(
        "UPDATE intents SET published_at = published_at - interval '7 days' WHERE id = ANY($1)",
        [i["id"] for i in intents],
    )
    await publish(client, buyer)  # this week: outside every window
    start = service.period_start(datetime.now(UTC))
    since = datetime.combine(start - timedelta(weeks=1), datetime.min.time(), tzinfo=UTC)
    until = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    store = Insights(db)
    facts = await store.intent_facts(since=since, until=until, category="electronics", country=None)
    assert len(facts) == 5 and {f.week for f in facts} == {start - timedelta(weeks=1)}
    grouped = service.buyer_weeks(facts, None)[start - timedelta(weeks=1)]
    assert sorted(r.intents for r in grouped) == [1, 4]  # OpenDP clamps the 4 to 3
    assert (
        await store.intent_facts(since=since, until=until, category="electronics/cam", country=None)
        == []
    )
    assert (
        await store.intent_facts(since=since, until=until, category="electronics", country="AT")
        == []
    )
    budgets = {f.budget_amount for f in facts}
    assert all(b is None or isinstance(b, Decimal) for b in budgets)


async def test_the_client_library_reads_insights_and_raises_on_a_spent_budget(
    make_settings, make_client, db
) -> None:
    from intentcast.client import AsyncClient, ProblemError
    from intentcast.services.insights import InsightsRelease

    http = await make_client(make_settings(insights_epsilon=1.0, insights_budget=1.0))
    vendor = AsyncClient(http=http).with_token((await create_vendor(http, db)).token)
    release = await vendor.vendor.insights(category="electronics", area="DE", weeks=3)
    assert isinstance(release, InsightsRelease)
    assert len(release.weeks) == 3 and release.privacy.cached is False
    again = await vendor.vendor.insights(category="electronics", area="de", weeks=3)
    assert again.privacy.cached is True and again.weeks == release.weeks
    with pytest.raises(ProblemError) as refused:
        await vendor.vendor.insights(category="electronics", weeks=3)
    assert (refused.value.status, refused.value.code) == (429, "privacy-budget-exhausted")
