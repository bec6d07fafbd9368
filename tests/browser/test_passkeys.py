"""Passkeys in a real browser: Chromium's virtual authenticator (DevTools protocol,
``WebAuthn.addVirtualAuthenticator``: CTAP2, built in, resident keys, user verification)
stands in for a phone's fingerprint reader. Sign up with a passkey, sign out, sign in with
it (no name typed), add a second passkey; a refused verification and an address a passkey
cannot belong to are said in the page, and the token sign-in stays usable."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import PHONE, WebServer

VIRTUAL_AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


def add_virtual_authenticator(page: Any) -> tuple[Any, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    created = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_AUTHENTICATOR})
    return cdp, created["authenticatorId"]


def test_sign_up_sign_out_and_sign_in_with_a_passkey(page, checkpoint) -> None:
    cdp, authenticator = add_virtual_authenticator(page)
    page.goto("/signup")
    page.get_by_label("Nickname").fill("Grace")
    page.get_by_label("Name for this passkey").fill("my phone")
    checkpoint(page, "signup-with-passkey")
    page.get_by_role("button", name="Sign up with a passkey").click()
    page.get_by_role("heading", name="Your account is ready").wait_for()
    token = page.get_by_label("Your API token").input_value()
    assert token.startswith("icb_")
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(stored["credentials"]) == 1 and stored["credentials"][0]["isResidentCredential"]
    checkpoint(page, "signed-up")

    page.get_by_role("button", name="Sign out").click()
    page.goto("/intents")
    assert page.url.endswith("/signin?next=%2Fintents")
    checkpoint(page, "signin-choices")

    # the user fails verification (wrong finger): the page says so, nothing happens
    cdp.send(
        "WebAuthn.setUserVerified", {"authenticatorId": authenticator, "isUserVerified": False}
    )
    page.get_by_role("button", name="Use my passkey").click()
    alert = page.locator("#passkey-signin-error")
    alert.wait_for()
    assert "cancelled or timed out" in alert.inner_text()
    assert "API token below" in alert.inner_text()
    checkpoint(page, "passkey-cancelled")

    cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator, "isUserVerified": True})
    page.get_by_role("button", name="Use my passkey").click()
    page.get_by_role("heading", name="My intents").wait_for()
    assert page.url.endswith("/intents")
    checkpoint(page, "signed-in-with-passkey")

    page.goto("/account/passkeys")
    page.get_by_role("heading", name="my phone").wait_for()
    assert page.get_by_text("last used").count() == 1
    checkpoint(page, "my-passkeys")
    # the phone already holds this account's passkey: it declines to make another
    page.get_by_role("button", name="Add a passkey").click()
    alert = page.locator("#passkey-add-error")
    alert.wait_for()
    assert "already holds a passkey" in alert.inner_text()
    # another authenticator (a security key) adds the second one
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": authenticator})
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {"options": {**VIRTUAL_AUTHENTICATOR, "transport": "usb"}},
    )
    page.get_by_label("Name for this passkey").fill("security key")
    page.get_by_role("button", name="Add a passkey").click()
    page.get_by_role("status").filter(has_text="Passkey added.").wait_for()
    page.get_by_role("heading", name="security key").wait_for()
    checkpoint(page, "second-passkey")
    # a passkey session may remove a passkey while another remains; removing the one it
    # was opened with (a lost phone) ends the session
    page.get_by_role("button", name="Remove my phone").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    assert "/signin" in page.url
    checkpoint(page, "signed-out-with-the-removed-passkey")
    csp = [m for m in page.console_errors if "Content Security Policy" in m]
    assert not csp, csp


def test_the_token_signin_still_works_where_passkeys_cannot(
    browser, web_server: WebServer, checkpoint
) -> None:
    """Opened by IP address, the site can have no passkey: the page says why, and the
    token form signs in."""
    address = f"http://127.0.0.1:{web_server.server.port}"
    context = browser.new_context(viewport=PHONE, base_url=address)
    context.set_default_timeout(15_000)
    foreign: list[str] = []
    context.on(
        "request", lambda r: foreign.append(r.url) if not r.url.startswith(address) else None
    )
    try:
        page = context.new_page()
        page.goto("/signup")
        alert = page.locator("#passkey-signup-error")
        assert "not by an IP address" in alert.inner_text()
        assert page.get_by_role("button", name="Sign up with a passkey").is_disabled()
        page.get_by_label("Display name (only you see it)", exact=True).fill("Lin")
        page.get_by_role("button", name="Create account").click()
        token = page.get_by_label("Your buyer token").input_value()
        page.get_by_role("button", name="Sign out").click()
        page.goto("/signin")
        assert "not by an IP address" in page.locator("#passkey-signin-error").inner_text()
        checkpoint(page, "no-passkeys-here")
        page.get_by_label("Buyer token").fill(token)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.get_by_role("heading", name="My intents").wait_for()
    finally:
        context.close()
    assert not foreign, foreign
