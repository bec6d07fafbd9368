"""The start, sign-up and sign-in pages in a real browser: rendered under the strict
Content-Security-Policy, nothing loaded from another origin, accessible, keyboard usable."""

from __future__ import annotations


def test_signup_then_signin_with_the_token(page, checkpoint) -> None:
    page.goto("/")
    checkpoint(page, "start")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Display name (only you see it)", exact=True).fill("Ada")
    page.get_by_label("E-mail", exact=True).fill("ada@example.org")
    checkpoint(page, "signup")
    page.get_by_role("button", name="Create account").click()
    token = page.get_by_label("Your buyer token").input_value()
    assert token.startswith("icb_")
    checkpoint(page, "token-shown-once")
    page.get_by_role("button", name="Sign out").click()
    page.goto("/intents")
    assert page.url.endswith("/signin?next=%2Fintents")
    page.get_by_label("Buyer token").fill("icb_wrong")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("That is not a valid buyer token")
    checkpoint(page, "signin-refused")
    page.get_by_label("Buyer token").fill(token)
    page.get_by_label("Buyer token").press("Enter")
    page.get_by_role("heading", name="My intents").wait_for()
    checkpoint(page, "intents")
    csp = [m for m in page.console_errors if "Content Security Policy" in m]
    assert not csp, csp


def test_skip_link_is_the_first_tab_stop(page) -> None:
    page.goto("/signin")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
