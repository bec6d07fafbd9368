"""The operator pages without a browser: sign-in with an operator token, who may reach
the pages, and each action through a page — verify, suspend, reinstate, resolve a flag,
remove an intent, change settings — changing state through the same services as
``/v1/admin`` and writing its audit entry; refusals as readable 4xx pages naming the field."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import AsyncTestClient

from tests.helpers import Account, create_buyer, create_vendor, matched, publish

CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def csrf_of(client: AsyncTestClient[Any], path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF_INPUT.search(page.text)
    assert match, f"{path}: no CSRF input"
    return match.group(1)


async def operator_signed_in(client: AsyncTestClient[Any], operator: Account) -> str:
    """``operator`` signed in on ``client``; returns a CSRF token for forms."""
    csrf = await csrf_of(client, "/operator/signin")
    answer = await client.post(
        "/operator/signin",
        data={"token": operator.token, "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/operator/vendors"
    return csrf


async def audit(client, operator: Account, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(
        "/v1/admin/audit", params={"order": "desc", **params}, headers=operator.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def vendor_status(client, operator: Account, vendor_id: str) -> str:
    response = await client.get(f"/v1/admin/vendors/{vendor_id}", headers=operator.headers)
    assert response.status_code == 200, response.text
    return response.json()["status"]


# ---- signing in ------------------------------------------------------------------------------


async def test_signin_with_a_bad_token_is_a_readable_401_page(client, buyer) -> None:
    csrf = await csrf_of(client, "/operator/signin")
    for token in ("ico_nope", buyer.token):  # a buyer's token is no operator's
        answer = await client.post("/operator/signin", data={"token": token, "_csrf_token": csrf})
        assert answer.status_code == 401
        assert answer.headers["content-type"].startswith("text/html")
        assert "not a valid operator token" in answer.text
        assert "intentcast_session" not in answer.headers.get("set-cookie", "")


async def test_operator_pages_redirect_to_the_operator_signin(client) -> None:
    for path in ("/operator/vendors", "/operator/settings", "/operator/stats.json"):
        answer = await client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/operator/signin?next=")


async def test_a_buyer_session_cannot_reach_operator_pages(client, db, operator) -> None:
    buyer = await create_buyer(client)
    pending = await create_vendor(client, verified=False)
    csrf = await csrf_of(client, "/signin")
    signed = await client.post("/signin", data={"token": buyer.token, "_csrf_token": csrf})
    assert signed.status_code == 200, signed.text
    for path in ("/operator/vendors", "/operator/audit", "/operator/stats.json"):
        answer = await client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/operator/signin")
    tried = await client.post(
        f"/operator/vendors/{pending.id}/verify",
        data={"_csrf_token": csrf},
        follow_redirects=False,
    )
    assert tried.status_code == 303
    assert tried.headers["location"] == "/operator/signin"
    assert await vendor_status(client, operator, pending.id) == "pending"


async def test_signin_goes_back_to_the_operator_page_asked_for(client, operator) -> None:
    csrf = await csrf_of(client, "/operator/signin")
    answer = await client.post(
        "/operator/signin",
        data={"token": operator.token, "next": "/intents", "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/operator/vendors"  # operator pages only
    again = await client.get(
        "/operator/signin", params={"next": "/operator/audit"}, follow_redirects=False
    )
    assert again.status_code == 303 and again.headers["location"] == "/operator/audit"
    home = await client.get("/", follow_redirects=False)  # the start page leads to their pages
    assert home.status_code == 303 and home.headers["location"] == "/operator"


async def test_signout_ends_the_operator_session(client, operator) -> None:
    csrf = await operator_signed_in(client, operator)
    assert (await client.get("/operator/vendors")).status_code == 200
    out = await client.post("/operator/signout", data={"_csrf_token": csrf}, follow_redirects=False)
    assert out.headers["location"] == "/operator/signin"
    assert (await client.get("/operator/vendors", follow_redirects=False)).status_code == 303


# ---- vendors ---------------------------------------------------------------------------------


async def test_verifying_a_pending_vendor_from_the_queue_is_audited(client, db, operator) -> None:
    pending = await create_vendor(client, verified=False, name="Kamera Huber")
    verified = await create_vendor(client, db, name="Already Fine")
    csrf = await operator_signed_in(client, operator)
    queue = await client.get("/operator/vendors")
    assert queue.status_code == 200
    assert "Kamera Huber" in queue.text and "Already Fine" not in queue.text  # the queue
    everyone = await client.get("/operator/vendors", params={"status": "all"})
    assert "Kamera Huber" in everyone.text and "Already Fine" in everyone.text
    page = await client.get(f"/operator/vendors/{pending.id}")
    assert "Verify vendor" in page.text
    done = await client.post(
        f"/operator/vendors/{pending.id}/verify",
        data={"_csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert await vendor_status(client, operator, pending.id) == "verified"
    (entry,) = await audit(client, operator, target=pending.id)
    assert entry["action"] == "vendor.verify" and entry["actor"] == operator.id
    after = await client.get(done.headers["location"])
    assert "The vendor is verified" in after.text and 'id="vendor-status">verified<' in after.text
    assert "vendor.verify" in after.text  # its history
    again = await client.post(f"/operator/vendors/{pending.id}/verify", data={"_csrf_token": csrf})
    assert again.status_code == 409
    assert "only a pending vendor" in again.text
    assert verified.id not in after.text


async def test_suspending_needs_a_reason_then_reinstating(client, db, operator) -> None:
    vendor = await create_vendor(client, db)
    csrf = await operator_signed_in(client, operator)
    bare = await client.post(
        f"/operator/vendors/{vendor.id}/suspend", data={"reason": "  ", "_csrf_token": csrf}
    )
    assert bare.status_code == 422
    assert "reason: required" in bare.text and 'aria-invalid="true"' in bare.text
    too_long = await client.post(
        f"/operator/vendors/{vendor.id}/suspend",
        data={"reason": "x" * 2001, "_csrf_token": csrf},
    )
    assert too_long.status_code == 422
    assert "reason: must be at most 2000 characters" in too_long.text
    assert await vendor_status(client, operator, vendor.id) == "verified"
    assert await audit(client, operator, target=vendor.id) == []

    suspended = await client.post(
        f"/operator/vendors/{vendor.id}/suspend",
        data={"reason": "Counterfeit listings", "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert suspended.status_code == 303, suspended.text
    assert await vendor_status(client, operator, vendor.id) == "suspended"
    me = await client.get("/v1/me", headers=vendor.headers)
    assert "Counterfeit listings" in me.text
    reinstated = await client.post(
        f"/operator/vendors/{vendor.id}/reinstate",
        data={"_csrf_token": csrf},
        follow_redirects=False,
    )
    assert reinstated.status_code == 303
    assert await vendor_status(client, operator, vendor.id) == "verified"
    entries = await audit(client, operator, target=vendor.id)
    assert [(e["action"], e.get("reason")) for e in entries] == [
        ("vendor.reinstate", None),
        ("vendor.suspend", "Counterfeit listings"),
    ]


async def test_an_unknown_vendor_is_a_404_page(client, operator) -> None:
    await operator_signed_in(client, operator)
    answer = await client.get("/operator/vendors/ven_nobody")
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
    bad_filter = await client.get("/operator/vendors", params={"status": "sleeping"})
    assert bad_filter.status_code == 400 and "status" in bad_filter.text
    bad_cursor = await client.get("/operator/vendors", params={"after": "!!"})
    assert bad_cursor.status_code == 400


async def test_a_form_without_its_csrf_token_is_refused(client, operator) -> None:
    pending = await create_vendor(client, verified=False)
    await operator_signed_in(client, operator)
    refused = await client.post(f"/operator/vendors/{pending.id}/verify", data={})
    assert refused.status_code == 403
    assert "This form has expired" in refused.text
    settings = await client.post("/operator/settings", data={"location_floor": "5"})
    assert settings.status_code == 403
    assert await vendor_status(client, operator, pending.id) == "pending"
    assert await audit(client, operator) == []


# ---- flags and intents -------------------------------------------------------------------------


async def flagged_messages(client, db, buyer: Account, vendor: Account) -> tuple[str, str]:
    """A thread with a vendor message flagged by the buyer and a buyer message flagged by
    the vendor; their ids."""
    intent = await publish(client, buyer)
    await matched(db, intent["id"], vendor)
    opened = await client.post(
        f"/v1/intents/{intent['id']}/threads",
        json={"body": "Send me cash first, we talk off-platform"},
        headers=vendor.headers,
    )
    assert opened.status_code == 201, opened.text
    from_vendor = opened.json()["messages"][0]["id"]
    answer = await client.post(
        f"/v1/threads/{opened.json()['id']}/messages",
        json={"body": "No. Reach me at ada@example.org"},
        headers=buyer.headers,
    )
    from_buyer = answer.json()["id"]
    for message, who in ((from_vendor, buyer), (from_buyer, vendor)):
        flagged = await client.post(
            f"/v1/messages/{message}/flag", json={"reason": "scam"}, headers=who.headers
        )
        assert flagged.status_code == 202, flagged.text
    return from_vendor, from_buyer


async def test_resolving_flags_from_the_page(client, db, buyer, vendor, operator) -> None:
    from_vendor, from_buyer = await flagged_messages(client, db, buyer, vendor)
    csrf = await operator_signed_in(client, operator)
    queue = await client.get("/operator/flags")
    assert queue.status_code == 200
    assert "Send me cash first" in queue.text
    assert "ada@example.org" not in queue.text  # the buyer's words as the vendor sees them
    no_reason = await client.post(
        f"/operator/flags/{from_vendor}/resolve",
        data={"action": "suspend_vendor", "_csrf_token": csrf},
    )
    assert no_reason.status_code == 422 and "reason: required" in no_reason.text
    unknown = await client.post(
        f"/operator/flags/{from_vendor}/resolve",
        data={"action": "ban", "_csrf_token": csrf},
    )
    assert unknown.status_code == 422 and "action:" in unknown.text
    buyers_words = await client.post(
        f"/operator/flags/{from_buyer}/resolve",
        data={"action": "suspend_vendor", "reason": "x", "_csrf_token": csrf},
    )
    assert buyers_words.status_code == 422 and "action:" in buyers_words.text
    assert await vendor_status(client, operator, vendor.id) == "verified"

    dismissed = await client.post(
        f"/operator/flags/{from_buyer}/resolve",
        data={"action": "dismiss", "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert dismissed.status_code == 303, dismissed.text
    suspended = await client.post(
        f"/operator/flags/{from_vendor}/resolve",
        data={"action": "suspend_vendor", "reason": "Scam attempt", "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert suspended.status_code == 303, suspended.text
    assert await vendor_status(client, operator, vendor.id) == "suspended"
    actions = [(e["action"], e["target"]) for e in await audit(client, operator)]
    assert actions == [
        ("flag.resolve", from_vendor),
        ("vendor.suspend", vendor.id),
        ("flag.resolve", from_buyer),
    ]
    assert "No flag is waiting" in (await client.get("/operator/flags")).text
    resolved = await client.get("/operator/flags", params={"status": "resolved"})
    assert "suspend_vendor" in resolved.text and "Scam attempt" in resolved.text
    twice = await client.post(
        f"/operator/flags/{from_buyer}/resolve",
        data={"action": "dismiss", "_csrf_token": csrf},
    )
    assert twice.status_code == 409 and "already resolved" in twice.text


async def test_removing_a_flagged_message_from_the_page(
    client, db, buyer, vendor, operator
) -> None:
    from_vendor, _ = await flagged_messages(client, db, buyer, vendor)
    csrf = await operator_signed_in(client, operator)
    removed = await client.post(
        f"/operator/flags/{from_vendor}/resolve",
        data={"action": "remove_message", "reason": "Off-platform payment", "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert removed.status_code == 303, removed.text
    flags = await client.get(
        "/v1/admin/flags", params={"status": "resolved"}, headers=operator.headers
    )
    (flag,) = flags.json()["items"]
    assert flag["id"] == from_vendor and flag["removed"] is True
    assert flag["body"] == "[removed by a moderator]"
    (entry,) = await audit(client, operator)
    assert entry["action"] == "flag.resolve" and entry["details"]["action"] == "remove_message"
    assert await vendor_status(client, operator, vendor.id) == "verified"


async def test_removing_an_intent_from_the_page(client, buyer, operator) -> None:
    intent = await publish(client, buyer, description="Call 0170 1234567")
    csrf = await operator_signed_in(client, operator)
    listing = await client.get("/operator/intents")
    assert listing.status_code == 200
    assert intent["vendor_view"]["title"] in listing.text
    assert "0170 1234567" not in listing.text  # as vendors see it
    bare = await client.post(
        f"/operator/intents/{intent['id']}/remove", data={"reason": "", "_csrf_token": csrf}
    )
    assert bare.status_code == 422 and "reason: required" in bare.text
    removed = await client.post(
        f"/operator/intents/{intent['id']}/remove",
        data={"reason": "Prohibited item", "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert removed.status_code == 303, removed.text
    mine = await client.get(f"/v1/intents/{intent['id']}", headers=buyer.headers)
    assert mine.json()["status"] == "removed"
    (entry,) = await audit(client, operator, action="intent.remove")
    assert entry["target"] == intent["id"] and entry["reason"] == "Prohibited item"
    again = await client.post(
        f"/operator/intents/{intent['id']}/remove",
        data={"reason": "again", "_csrf_token": csrf},
    )
    assert again.status_code == 409
    only_removed = await client.get("/operator/intents", params={"status": "removed"})
    assert intent["vendor_view"]["title"] in only_removed.text


# ---- settings ----------------------------------------------------------------------------------


async def admin_settings(client, operator: Account) -> dict[str, Any]:
    response = await client.get("/v1/admin/settings", headers=operator.headers)
    assert response.status_code == 200, response.text
    return response.json()["settings"]


async def test_settings_page_shows_values_and_bounds(client, operator) -> None:
    await operator_signed_in(client, operator)
    page = await client.get("/operator/settings")
    assert page.status_code == 200
    assert 'id="location_floor" name="location_floor" type="number"' in page.text
    assert 'min="0" max="15"' in page.text and "Allowed: 0 to 15" in page.text
    assert '<label for="auto_verify_vendors">' in page.text


async def test_a_bad_settings_value_is_a_4xx_naming_the_field(client, operator) -> None:
    csrf = await operator_signed_in(client, operator)
    before = await admin_settings(client, operator)
    cases = (("99", "must be at most 15"), ("many", "whole number"), ("", "whole number"))
    for value, words in cases:
        answer = await client.post(
            "/operator/settings", data={"location_floor": value, "_csrf_token": csrf}
        )
        assert answer.status_code == 422, (value, answer.text[:200])
        assert "location floor: " in answer.text and words in answer.text
        assert 'id="location_floor-error"' in answer.text
    crossed = await client.post(
        "/operator/settings",
        data={"default_intent_days": "200", "max_intent_days": "100", "_csrf_token": csrf},
    )
    assert crossed.status_code == 422
    assert "must not exceed" in crossed.text
    assert await admin_settings(client, operator) == before
    assert await audit(client, operator) == []


async def test_changing_a_setting_from_the_page_is_audited_and_reset(client, operator) -> None:
    csrf = await operator_signed_in(client, operator)
    untouched = await client.post(
        "/operator/settings",
        data={"location_floor": "7", "auto_verify_vendors": "false", "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert untouched.headers["location"] == "/operator/settings?done=unchanged"
    changed = await client.post(
        "/operator/settings",
        data={"location_floor": "5", "auto_verify_vendors": "true", "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert changed.status_code == 303, changed.text
    settings = await admin_settings(client, operator)
    assert settings["location_floor"]["value"] == 5
    assert settings["location_floor"]["source"] == "operator"
    assert settings["auto_verify_vendors"]["value"] is True
    (entry,) = await audit(client, operator, action="settings.change")
    assert entry["actor"] == operator.id
    assert entry["details"]["new"] == {"location_floor": 5, "auto_verify_vendors": True}
    assert (await create_vendor(client, verified=False)).body["status"] == "verified"

    page = await client.get("/operator/settings")
    assert 'name="reset" value="location_floor"' in page.text
    reset = await client.post(
        "/operator/settings",
        data={"location_floor": "5", "reset": "location_floor", "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert reset.status_code == 303
    assert (await admin_settings(client, operator))["location_floor"]["source"] == "default"


# ---- audit and stats ---------------------------------------------------------------------------


async def test_audit_page_is_newest_first_filtered_and_paginated(client, db, operator) -> None:
    vendors = [await create_vendor(client, verified=False) for _ in range(3)]
    csrf = await operator_signed_in(client, operator)
    for vendor in vendors:
        answer = await client.post(
            f"/operator/vendors/{vendor.id}/verify",
            data={"_csrf_token": csrf},
            follow_redirects=False,
        )
        assert answer.status_code == 303
    page = await client.get("/operator/audit")
    assert page.status_code == 200
    positions = [page.text.index(v.id) for v in vendors]
    assert positions == sorted(positions, reverse=True)  # newest first
    one = await client.get("/operator/audit", params={"target": vendors[0].id})
    assert vendors[0].id in one.text and vendors[1].id not in one.text
    none = await client.get("/operator/audit", params={"action": "intent.remove"})
    assert "No entry matches" in none.text
    bad = await client.get("/operator/audit", params={"after": "bm90LWEtbnVtYmVy"})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("text/html")


async def test_audit_page_cursor_reaches_older_entries(client, operator, monkeypatch) -> None:
    from intentcast.web.operator import activity

    monkeypatch.setattr(activity, "PAGE_SIZE", 2)
    vendors = [await create_vendor(client, verified=False) for _ in range(3)]
    csrf = await operator_signed_in(client, operator)
    for vendor in vendors:
        await client.post(
            f"/operator/vendors/{vendor.id}/verify",
            data={"_csrf_token": csrf},
            follow_redirects=False,
        )
    first = await client.get("/operator/audit")
    assert vendors[2].id in first.text and vendors[0].id not in first.text
    older = re.search(r'href="(/operator/audit\?[^"]+)">Older entries', first.text)
    assert older, "no link to the older entries"
    second = await client.get(older.group(1).replace("&amp;", "&"))
    assert vendors[0].id in second.text and vendors[2].id not in second.text


async def test_stats_panel_and_its_json(client, db, buyer, operator) -> None:
    await publish(client, buyer)
    await create_vendor(client, verified=False)
    await operator_signed_in(client, operator)
    page = await client.get("/operator/stats")
    assert page.status_code == 200
    assert 'data-stat="intents.open">1<' in page.text
    assert 'data-stat="vendors.pending">1<' in page.text
    assert '<script src="/static/js/operator-stats.js" defer></script>' in page.text
    data = await client.get("/operator/stats.json")
    assert data.status_code == 200 and data.headers["content-type"].startswith("application/json")
    body = data.json()
    assert body["intents"]["open"] == 1 and body["vendors"]["pending"] == 1
    assert len(body["activity"]["per_hour"]) == body["activity"]["hours"]
    script = await client.get("/static/js/operator-stats.js")
    assert script.status_code == 200 and "data-stats-url" in script.text
