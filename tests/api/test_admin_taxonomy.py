"""Operators editing the taxonomy (``/v1/admin/categories``): adding, renaming, moving and
retiring categories, each audited, and what every edit must keep true — an open intent and a
subscription under a renamed or moved category still match, and the public tree shows the
edit within seconds without a restart."""

from __future__ import annotations

from typing import Any

from tests.helpers import (
    CAMERA,
    Account,
    create_vendor,
    feed,
    publish,
    settled,
    subscribe,
    types,
    wait_for,
)


async def _audit(client, operator: Account, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/admin/audit", params=params, headers=operator.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def _public_node(client, path: str) -> dict[str, Any] | None:
    response = await client.get("/v1/categories", params={"under": path, "depth": 1})
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    node: dict[str, Any] = response.json()["items"][0]
    return node


async def test_an_operator_adds_a_category_and_intents_may_use_it(
    client, db, buyer, operator
) -> None:
    added = await client.post(
        "/v1/admin/categories",
        json={"parent": "electronics/cameras", "name": "Instant cameras"},
        headers=operator.headers,
    )
    assert added.status_code == 201, added.text
    assert added.json() == {
        "path": "electronics/cameras/instant-cameras",
        "name": "Instant cameras",
        "parent": "electronics/cameras",
        "gpc_id": None,
        "retired": False,
    }
    intent = await publish(client, buyer, category="electronics/cameras/instant-cameras")
    assert intent["category"] == "electronics/cameras/instant-cameras"
    node = await wait_for(lambda: _public_node(client, "electronics/cameras/instant-cameras"))
    assert node["name"] == "Instant cameras"
    root = await client.post(
        "/v1/admin/categories",
        json={"parent": None, "name": "Space travel", "slug": "space"},
        headers=operator.headers,
    )
    assert root.status_code == 201 and root.json()["path"] == "space"
    assert [(e["action"], e["target"]) for e in await _audit(client, operator)] == [
        ("category.add", "electronics/cameras/instant-cameras"),
        ("category.add", "space"),
    ]


async def test_adding_a_category_refuses_bad_input_unknown_parents_and_taken_paths(
    client, operator
) -> None:
    async def add(body: dict[str, Any]):
        return await client.post("/v1/admin/categories", json=body, headers=operator.headers)

    for body, field in (
        ({"name": "x"}, "parent"),
        ({"parent": None}, "name"),
        ({"parent": None, "name": ""}, "name"),
        ({"parent": None, "name": "x", "slug": "Not A Slug"}, "slug"),
        ({"parent": None, "name": "x", "colour": "red"}, "colour"),
    ):
        response = await add(body)
        assert response.status_code == 400, (body, response.text)
        assert field in response.text, (body, response.text)
    unknown = await add({"parent": "electronics/camras", "name": "x"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "parent"
    assert "electronics/cameras" in unknown.json()["suggestions"]
    no_slug = await add({"parent": None, "name": "!!!"})
    assert no_slug.status_code == 422 and no_slug.json()["errors"][0]["field"] == "name"
    taken = await add({"parent": "electronics", "name": "Cameras"})
    assert taken.status_code == 409 and taken.json()["code"] == "category-exists"
    assert await _audit(client, operator) == []


async def test_renaming_keeps_the_path_and_shows_in_the_public_tree(
    client, db, buyer, vendor, operator, pipeline
) -> None:
    await subscribe(client, vendor)
    renamed = await client.patch(
        "/v1/admin/categories/electronics/cameras",
        json={"name": "Cameras & optics"},
        headers=operator.headers,
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["category"]["path"] == "electronics/cameras"
    assert renamed.json()["moved"] == {}

    async def shows_new_name() -> bool:
        node = await _public_node(client, "electronics/cameras")
        return node is not None and node["name"] == "Cameras & optics"

    await wait_for(shows_new_name, within=5)
    intent = await publish(client, buyer)
    events = await feed(client, vendor, at_least=1)
    assert [e["data"]["intent"]["id"] for e in events] == [intent["id"]]
    (entry,) = await _audit(client, operator)
    assert entry["action"] == "category.rename" and entry["target"] == "electronics/cameras"
    assert entry["details"] == {"from": "Cameras", "to": "Cameras & optics"}
    same = await client.patch(
        "/v1/admin/categories/electronics/cameras",
        json={"name": "Cameras & optics"},
        headers=operator.headers,
    )
    assert same.status_code == 409 and same.json()["code"] == "nothing-to-change"


async def test_moving_a_category_keeps_intents_and_subscriptions_matching(
    client, db, buyer, vendor, operator, pipeline
) -> None:
    sub = await subscribe(client, vendor, categories=["electronics/cameras/mirrorless"])
    before = await publish(client, buyer)  # electronics/cameras/mirrorless
    await feed(client, vendor, at_least=1)

    moved = await client.patch(
        "/v1/admin/categories/electronics/cameras",
        json={"parent": None},
        headers=operator.headers,
    )
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["category"]["path"] == "cameras" and body["category"]["parent"] is None
    assert body["moved"]["electronics/cameras/mirrorless"] == "cameras/mirrorless"
    assert body["intents_moved"] == 1 and body["subscriptions_rewritten"] == 1

    # the references were rewritten
    mine = await client.get(f"/v1/subscriptions/{sub['id']}", headers=vendor.headers)
    assert mine.json()["categories"] == ["cameras/mirrorless"]
    theirs = await client.get(f"/v1/intents/{before['id']}", headers=buyer.headers)
    assert theirs.json()["category"] == "cameras/mirrorless"
    # the open intent's vendor hears the new category
    events = await feed(client, vendor, at_least=2)
    assert types(events) == ["intent.matched", "intent.updated"]
    assert events[1]["data"]["intent"]["category"] == "cameras/mirrorless"
    # the old subscription matches a new intent under the new path
    after = await publish(client, buyer, category="cameras/mirrorless")
    events = await feed(client, vendor, at_least=3)
    assert events[2]["type"] == "intent.matched"
    assert events[2]["data"]["intent"]["id"] == after["id"]
    # a new subscription under the new path gets the open intent moved there (backfill)
    newcomer = await create_vendor(client, db)
    await subscribe(client, newcomer, categories=["cameras"])
    got = await feed(client, newcomer, at_least=2)
    assert {e["data"]["intent"]["id"] for e in got} == {before["id"], after["id"]}
    # the old path is gone, and the refusal points at the new one
    old = await client.post(
        "/v1/intents",
        json=CAMERA | {"category": "electronics/cameras/mirrorless"},
        headers=buyer.headers,
    )
    assert old.status_code == 422 and "cameras/mirrorless" in old.json()["suggestions"]
    node = await wait_for(lambda: _public_node(client, "cameras/mirrorless"), within=5)
    assert node["path"] == "cameras/mirrorless"
    assert await _public_node(client, "electronics/cameras") is None

    (entry,) = await _audit(client, operator)
    assert entry["action"] == "category.move" and entry["target"] == "cameras"
    assert entry["details"]["from"] == "electronics/cameras"
    assert entry["details"]["intents_rewritten"] == 1
    assert entry["details"]["subscriptions_rewritten"] == 1


async def test_a_new_slug_moves_the_path_and_matching_follows(
    client, db, buyer, vendor, operator, pipeline
) -> None:
    sub = await subscribe(client, vendor, categories=["electronics/cameras"])
    await settled(db)
    changed = await client.patch(
        "/v1/admin/categories/electronics/cameras/mirrorless",
        json={"slug": "mirrorless-cameras", "name": "Mirrorless cameras"},
        headers=operator.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["category"]["path"] == "electronics/cameras/mirrorless-cameras"
    assert changed.json()["subscriptions_rewritten"] == 0  # it names the parent
    mine = await client.get(f"/v1/subscriptions/{sub['id']}", headers=vendor.headers)
    assert mine.json()["categories"] == ["electronics/cameras"]
    intent = await publish(client, buyer, category="electronics/cameras/mirrorless-cameras")
    events = await feed(client, vendor, at_least=1)
    assert events[0]["data"]["intent"]["id"] == intent["id"]
    actions = sorted(e["action"] for e in await _audit(client, operator))
    assert actions == ["category.rename", "category.rename"]  # the name, then the path


async def test_moves_that_cannot_be_are_refused(client, db, operator) -> None:
    async def change(path: str, body: dict[str, Any]):
        return await client.patch(
            f"/v1/admin/categories/{path}", json=body, headers=operator.headers
        )

    under_itself = await change("electronics", {"parent": "electronics/cameras"})
    assert under_itself.status_code == 422
    assert under_itself.json()["errors"][0]["field"] == "parent"
    taken = await change("electronics/cameras/mirrorless", {"slug": "dslr"})
    assert taken.status_code == 409 and taken.json()["code"] == "category-exists"
    unknown_parent = await change("electronics/cameras", {"parent": "nowhere"})
    assert unknown_parent.status_code == 422
    assert unknown_parent.json()["errors"][0]["field"] == "parent"
    unknown = await change("no/such/category", {"name": "x"})
    assert unknown.status_code == 404
    bad = await change("electronics", {"name": "x", "children": []})
    assert bad.status_code == 400 and "children" in bad.text
    bad_slug = await change("electronics", {"slug": "A B"})
    assert bad_slug.status_code == 400 and "slug" in bad_slug.text
    assert await _audit(client, operator) == []


async def test_a_retired_category_takes_nothing_new_but_what_uses_it_keeps_working(
    client, db, buyer, vendor, operator, pipeline
) -> None:
    sub = await subscribe(client, vendor, categories=["electronics/cameras/mirrorless"])
    before = await publish(client, buyer)
    await feed(client, vendor, at_least=1)

    retired = await client.delete(
        "/v1/admin/categories/electronics/cameras", headers=operator.headers
    )
    assert retired.status_code == 200, retired.text
    assert retired.json()["retired"] is True

    refused = await client.post(
        "/v1/intents",
        json=CAMERA | {"category": "electronics/cameras/mirrorless"},
        headers=buyer.headers,
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "category"
    assert "retired" in refused.text
    other = await create_vendor(client, db)
    no_sub = await client.post(
        "/v1/subscriptions",
        json={"categories": ["electronics/cameras"]},
        headers=other.headers,
    )
    assert no_sub.status_code == 422
    assert no_sub.json()["errors"][0]["field"] == "categories[0]"
    under = await client.post(
        "/v1/admin/categories",
        json={"parent": "electronics/cameras", "name": "Film cameras"},
        headers=operator.headers,
    )
    assert under.status_code == 422 and under.json()["errors"][0]["field"] == "parent"

    async def hidden() -> bool:
        return await _public_node(client, "electronics/cameras") is None

    await wait_for(hidden, within=5)
    # what uses it keeps working: the subscription changes, the intent is updated and its
    # vendor hears it; a wider subscription still gets the open intent by backfill
    paused = await client.patch(
        f"/v1/subscriptions/{sub['id']}", json={"max_per_hour": 5}, headers=vendor.headers
    )
    assert paused.status_code == 200, paused.text
    updated = await client.patch(
        f"/v1/intents/{before['id']}", json={"title": "Sony A7 IV only"}, headers=buyer.headers
    )
    assert updated.status_code == 200, updated.text
    events = await feed(client, vendor, at_least=2)
    assert types(events) == ["intent.matched", "intent.updated"]
    await subscribe(client, other, categories=["electronics"])
    got = await feed(client, other, at_least=1)
    assert [e["data"]["intent"]["id"] for e in got] == [before["id"]]

    again = await client.delete(
        "/v1/admin/categories/electronics/cameras", headers=operator.headers
    )
    assert again.status_code == 409 and again.json()["code"] == "category-retired"
    unknown = await client.delete("/v1/admin/categories/no/such", headers=operator.headers)
    assert unknown.status_code == 404
    (entry,) = await _audit(client, operator)
    assert entry["action"] == "category.retire" and entry["target"] == "electronics/cameras"
    assert entry["details"]["categories_retired"] >= 2


async def test_another_process_sees_an_edit_within_seconds(client, db, operator) -> None:
    """A second API process holds its own cache: it notices the change by its fingerprint,
    without a restart."""
    from intentcast.domain.errors import RuleViolation
    from intentcast.services.taxonomy import TaxonomyCache

    elsewhere = TaxonomyCache(refresh_every_s=0.2)
    assert (await elsewhere.resolve(db, "electronics/cameras/film", "category")).name
    retired = await client.delete(
        "/v1/admin/categories/electronics/cameras/film", headers=operator.headers
    )
    assert retired.status_code == 200, retired.text
    renamed = await client.patch(
        "/v1/admin/categories/electronics/cameras/dslr",
        json={"name": "Reflex cameras"},
        headers=operator.headers,
    )
    assert renamed.status_code == 200, renamed.text

    async def seen() -> bool:
        current = await elsewhere.current(db)
        dslr = current.resolve("electronics/cameras/dslr")
        return dslr is not None and dslr.name == "Reflex cameras"

    await wait_for(seen, within=3)
    try:
        await elsewhere.resolve(db, "electronics/cameras/film", "category")
    except RuleViolation as refused:
        assert "retired" in str(refused)
    else:
        raise AssertionError("a retired category resolved for a new use")
