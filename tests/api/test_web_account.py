"""The buyer's account pages. Details: what is saved there is the persona the API
answers (and a reveal discloses), an emptied field is cleared, a bad e-mail is a readable
422 naming it. API tokens: one created there is shown once and works on the API, one
revoked there is refused by the API, the last one cannot be revoked."""

from __future__ import annotations

import re

from tests.api.test_web_buyer import CSRF_INPUT, signed_in

NEW_TOKEN = re.compile(r'id="new-token" value="(icb_[^"]+)"')


async def test_create_use_and_revoke_a_token_from_the_page(client) -> None:
    _, csrf = await signed_in(client)
    listing = await client.get("/account/tokens")
    assert listing.status_code == 200
    assert "signed in with it now" in listing.text
    assert "Your last token cannot be revoked" in listing.text

    created = await client.post(
        "/account/tokens", data={"label": "my assistant", "_csrf_token": csrf}
    )
    assert created.status_code == 201, created.text
    token = NEW_TOKEN.search(created.text)
    assert token, created.text
    headers = {"Authorization": f"Bearer {token.group(1)}"}
    assert (await client.get("/v1/me", headers=headers)).status_code == 200
    again = await client.get("/account/tokens")
    assert token.group(1) not in again.text  # shown once
    assert "my assistant" in again.text

    tokens = (await client.get("/v1/me/tokens", headers=headers)).json()["items"]
    [assistant] = [t for t in tokens if t["label"] == "my assistant"]
    [first] = [t for t in tokens if t["label"] != "my assistant"]
    form_csrf = CSRF_INPUT.search(again.text)
    assert form_csrf
    revoked = await client.post(
        f"/account/tokens/{assistant['id']}/revoke",
        data={"_csrf_token": form_csrf.group(1)},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    assert (await client.get("/v1/me", headers=headers)).status_code == 401
    last = await client.post(
        f"/account/tokens/{first['id']}/revoke", data={"_csrf_token": form_csrf.group(1)}
    )
    assert last.status_code == 409
    assert "last live token" in last.text


async def test_a_bad_label_or_no_csrf_token_is_refused_with_a_page(client) -> None:
    _, csrf = await signed_in(client)
    long = await client.post("/account/tokens", data={"label": "x" * 121, "_csrf_token": csrf})
    assert long.status_code == 422
    assert "label" in long.text
    forged = await client.post("/account/tokens", data={"label": "x"})
    assert forged.status_code == 403
    assert "icb_" not in forged.text


async def test_the_tokens_page_needs_a_signed_in_buyer(client) -> None:
    answer = await client.get("/account/tokens", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/signin")


async def test_details_are_read_and_changed_like_patch_me(client) -> None:
    buyer, csrf = await signed_in(client, email="ada@example.org", phone="+49 89 1234567")
    form = await client.get("/account/details")
    assert form.status_code == 200
    assert 'value="ada@example.org"' in form.text
    saved = await client.post(
        "/account/details",
        data={
            "display_name": "Ada L.",
            "name": "Ada Lovelace",
            "email": "ada@lovelace.example",
            "phone": "",
            "address": "",
            "country": "de",
            "_csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    me = (await client.get("/v1/me", headers=buyer.headers)).json()
    assert (me["display_name"], me["name"], me["email"], me["country"]) == (
        "Ada L.",
        "Ada Lovelace",
        "ada@lovelace.example",
        "DE",
    )
    assert me["phone"] is None  # emptied: cleared
    assert "Your details are saved." in (await client.get("/account/details?done=saved")).text

    bad = await client.post(
        "/account/details",
        data={"display_name": "Ada", "email": "not an address", "_csrf_token": csrf},
    )
    assert bad.status_code == 422
    assert "email" in bad.text
    unchanged = (await client.get("/v1/me", headers=buyer.headers)).json()
    assert unchanged["email"] == "ada@lovelace.example"
