"""The web pages' foundation without a browser: security headers, cookie flags, CSRF,
sign-in and sign-up with a token, sign-out, and the redirect to sign-in."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from intentcast.web.config import CONTENT_SECURITY_POLICY, is_loopback_host
from tests.helpers import create_buyer

CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def csrf_of(client: AsyncTestClient[Any], path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF_INPUT.search(page.text)
    assert match, "the form carries no CSRF input"
    return match.group(1)


async def test_pages_carry_the_security_headers_and_are_not_cached(client) -> None:
    page = await client.get("/signin")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "no-store" in page.headers["cache-control"]
    assert '<a class="skip-link" href="#main">' in page.text
    css = await client.get("/static/site.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.headers["x-content-type-options"] == "nosniff"


async def test_the_api_sets_no_web_cookie_and_its_json_is_unchanged(client, buyer) -> None:
    me = await client.get("/v1/me", headers=buyer.headers)
    assert me.status_code == 200
    assert "set-cookie" not in me.headers
    assert "content-security-policy" not in me.headers
    assert (await client.get("/health")).headers.get("set-cookie") is None


async def test_a_form_post_without_its_csrf_token_is_refused_with_a_page(client) -> None:
    await client.get("/signin")  # the CSRF cookie
    refused = await client.post("/signin", data={"token": "icb_x"})
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "This form has expired" in refused.text
    assert refused.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


async def test_signin_with_a_bad_token_is_a_readable_401_page(client) -> None:
    token = await csrf_of(client, "/signin")
    answer = await client.post("/signin", data={"token": "icb_nope", "_csrf_token": token})
    assert answer.status_code == 401
    assert "not a valid buyer token" in answer.text
    assert "intentcast_session" not in answer.headers.get("set-cookie", "")


async def test_signed_out_pages_redirect_to_signin_with_next(client) -> None:
    answer = await client.get("/intents", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin?next=%2Fintents"


async def test_signin_with_a_token_opens_a_session_that_holds_no_token(client) -> None:
    buyer = await create_buyer(client, email="ada@example.org")
    csrf = await csrf_of(client, "/signin")
    answer = await client.post(
        "/signin",
        data={"token": buyer.token, "next": "//evil.example/x", "_csrf_token": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/intents"  # never another host
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("intentcast_session=")
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # the test server is on loopback
    assert buyer.token not in cookie
    home = await client.get("/", follow_redirects=False)
    assert home.headers["location"] == "/intents"


async def test_signin_moves_the_session_to_a_new_id(client) -> None:
    buyer = await create_buyer(client)
    client.cookies.set("intentcast_session", "a" * 64)
    csrf = await csrf_of(client, "/signin")
    answer = await client.post(
        "/signin", data={"token": buyer.token, "_csrf_token": csrf}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert "intentcast_session=" + "a" * 64 not in answer.headers["set-cookie"]


async def test_revoking_the_token_signs_the_browser_out(client) -> None:
    buyer = await create_buyer(client)
    second = await client.post("/v1/me/tokens", json={"label": "web"}, headers=buyer.headers)
    csrf = await csrf_of(client, "/signin")
    await client.post("/signin", data={"token": buyer.token, "_csrf_token": csrf})
    assert (await client.get("/", follow_redirects=False)).headers["location"] == "/intents"
    tokens = (await client.get("/v1/me/tokens", headers=buyer.headers)).json()["items"]
    first = next(t for t in tokens if t["label"] == "initial")
    revoke = await client.delete(
        f"/v1/me/tokens/{first['id']}",
        headers={"Authorization": "Bearer " + second.json()["token"]},
    )
    assert revoke.status_code == 204
    assert (await client.get("/", follow_redirects=False)).status_code == 200  # start page


async def test_signup_shows_the_token_once_and_signs_in(client) -> None:
    csrf = await csrf_of(client, "/signup")
    answer = await client.post(
        "/signup",
        data={
            "display_name": "ada",
            "email": "ada@example.org",
            "country": "de",
            "_csrf_token": csrf,
        },
    )
    assert answer.status_code == 201
    token = re.search(r'value="(icb_[^"]+)"', answer.text)
    assert token, answer.text
    me = await client.get("/v1/me", headers={"Authorization": "Bearer " + token.group(1)})
    assert me.json()["email"] == "ada@example.org" and me.json()["country"] == "DE"


async def test_signup_with_a_bad_field_names_it(client) -> None:
    csrf = await csrf_of(client, "/signup")
    answer = await client.post(
        "/signup", data={"display_name": "ada", "email": "not-an-address", "_csrf_token": csrf}
    )
    assert answer.status_code == 422
    assert "email" in answer.text
    assert 'value="not-an-address"' in answer.text  # the form keeps what was typed


async def test_signout_ends_the_session(client) -> None:
    buyer = await create_buyer(client)
    csrf = await csrf_of(client, "/signin")
    await client.post("/signin", data={"token": buyer.token, "_csrf_token": csrf})
    csrf = await csrf_of(client, "/signin")
    out = await client.post("/signout", data={"_csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert (await client.get("/", follow_redirects=False)).status_code == 200


async def test_cookies_are_secure_off_loopback(make_client, make_settings) -> None:
    client = await make_client(make_settings(host="0.0.0.0"))  # noqa: S104
    page = await client.get("/signin")
    assert "Secure" in page.headers["set-cookie"]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),  # noqa: S104
        ("10.0.0.2", False),
    ],
)
def test_loopback_rule(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


async def test_an_unknown_path_is_a_page_for_browsers_and_a_problem_for_programs(client) -> None:
    page = await client.get("/no-such-page", headers={"Accept": "text/html,*/*;q=0.8"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "There is no such page." in page.text
    assert "content-security-policy" in page.headers
    operator = await client.get("/operator/nope", headers={"Accept": "text/html"})
    assert operator.status_code == 404 and 'href="/operator"' in operator.text
    for path, accept in (("/no-such-page", "application/json"), ("/v1/nope", "text/html")):
        problem = await client.get(path, headers={"Accept": accept})
        assert problem.status_code == 404
        assert problem.headers["content-type"].startswith("application/problem+json")
        assert problem.json()["code"] == "not-found"


async def test_redirects_to_signin_give_their_connection_back(client, buyer) -> None:
    """The sign-in check borrows a pool connection; a signed-out visit that is redirected
    must return it, or a few dozen visits would exhaust the pool."""
    for _ in range(25):  # more than the pool holds
        answer = await client.get("/intents", follow_redirects=False)
        assert answer.status_code == 303
    me = await asyncio.wait_for(client.get("/v1/me", headers=buyer.headers), 10)
    assert me.status_code == 200
