"""The operator pages in a real browser against a real ``intentcast serve`` that does not
verify vendors by itself: sign in with the operator token the server printed, find a
pending vendor in the queue, verify it (from the keyboard), see it verified and in the
audit log, then every other operator page — flags, intents, settings, the live stats
panel. Each step is screenshotted and checked for accessibility; the ``page`` fixture
fails the test if anything was requested from another origin."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.browser.conftest import PHONE, WebServer
from tests.e2e.conftest import Server, assert_all_gone
from tests.helpers import CAMERA, bearer

TOKEN_LINE = re.compile(r"operator token \(shown once, keep it\): (ico_\S+)")


@pytest.fixture(scope="module")
def web_server(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """This module's own server: new vendors stay pending until an operator verifies them."""
    server = Server(tmp_path_factory.mktemp("operator-web") / "data", auto_verify_vendors="false")
    server.start()
    try:
        yield WebServer(server)
    finally:
        if server.running:
            assert_all_gone(server.stop())


@pytest.fixture(scope="module")
def operator_token(web_server: WebServer) -> str:
    """The token ``intentcast serve`` printed on its first start."""
    found = TOKEN_LINE.search(web_server.server.log.read_text())
    assert found, "serve printed no operator token"
    return found.group(1)


def _poll(read: Any, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = read()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {within}s")


@pytest.fixture(scope="module")
def marketplace(web_server: WebServer, operator_token: str) -> dict[str, str]:
    """Over the API: a pending vendor for the queue, and a verified one whose message on a
    buyer's intent the buyer flagged (so the flags and intents pages have content)."""
    with httpx.Client(base_url=web_server.api_url, timeout=10) as http:

        def post(path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
            answer = http.post(path, json=body, headers=bearer(token) if token else {})
            assert answer.status_code < 300, answer.text
            return answer.json()

        pending = post("/v1/vendors", {"name": "Kamera Huber", "website": "https://huber.example"})
        seller = post("/v1/vendors", {"name": "Foto Berger"})
        post(f"/v1/admin/vendors/{seller['vendor']['id']}/verify", {}, operator_token)
        post("/v1/subscriptions", {"categories": ["electronics/cameras"]}, seller["token"])
        buyer = post("/v1/buyers", {"display_name": "ada"})
        intent = post("/v1/intents", CAMERA, buyer["token"])

        def matched() -> bool:
            feed = http.get("/v1/vendor/matches", headers=bearer(seller["token"]))
            return intent["id"] in feed.text

        _poll(matched)
        thread = post(
            f"/v1/intents/{intent['id']}/threads",
            {"body": "Pay me in gift cards first"},
            seller["token"],
        )
        message_id = thread["messages"][0]["id"]
        post(f"/v1/messages/{message_id}/flag", {"reason": "scam"}, buyer["token"])
    return {"pending_id": pending["vendor"]["id"], "message_id": message_id}


def no_sideways_scroll(page: Any) -> None:
    """Usable at phone width: nothing wider than the screen."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url}: {width}px wide at {PHONE['width']}px"


def test_operator_verifies_a_vendor_and_visits_every_page(
    page, checkpoint, operator_token, marketplace, web_server
) -> None:
    from playwright.sync_api import expect

    page.goto("/operator/vendors")
    assert page.url.endswith("/operator/signin?next=%2Foperator%2Fvendors")
    checkpoint(page, "signin")
    page.get_by_label("Operator token").fill("ico_wrong")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("That is not a valid operator")
    checkpoint(page, "signin-refused")
    page.get_by_label("Operator token").fill(operator_token)
    page.get_by_label("Operator token").press("Enter")

    page.get_by_role("heading", name="Pending review").wait_for()
    queue = page.locator(".vendor-card")
    assert queue.count() == 1 and "Kamera Huber" in queue.inner_text()
    assert "Foto Berger" not in page.content()
    no_sideways_scroll(page)
    checkpoint(page, "queue")

    page.get_by_role("link", name="Kamera Huber").click()
    page.get_by_role("heading", name="Kamera Huber").wait_for()
    assert page.locator("#vendor-status").inner_text() == "pending"
    checkpoint(page, "vendor-pending")
    page.get_by_label("Note for the audit log (optional)").fill("Checked the trade register")
    page.keyboard.press("Tab")  # the verify button is next in the tab order
    assert page.evaluate("document.activeElement.textContent") == "Verify vendor"
    page.keyboard.press("Enter")
    page.get_by_text("The vendor is verified").wait_for()
    assert page.locator("#vendor-status").inner_text() == "verified"
    assert "vendor.verify" in page.locator(".history").inner_text()
    no_sideways_scroll(page)
    checkpoint(page, "vendor-verified")

    page.get_by_role("link", name="Vendors").click()
    assert "No vendor is waiting for review." in page.locator("main").inner_text()
    page.get_by_role("link", name="Audit log").click()
    page.get_by_role("heading", name="Audit log").wait_for()
    newest = page.locator(".audit-entry").first.inner_text()
    assert "vendor.verify" in newest and marketplace["pending_id"] in newest
    assert "Checked the trade register" in newest
    no_sideways_scroll(page)
    checkpoint(page, "audit")

    page.get_by_role("link", name="Flags").click()
    page.get_by_role("heading", name="Flagged messages").wait_for()
    assert "Pay me in gift cards first" in page.locator(".flag-card").inner_text()
    no_sideways_scroll(page)
    checkpoint(page, "flags")

    page.get_by_role("link", name="Intents").click()
    page.get_by_role("heading", name="Intents", exact=True).wait_for()
    assert page.locator(".intent-card").count() == 1
    page.get_by_text("Remove this intent…").click()
    no_sideways_scroll(page)
    checkpoint(page, "intents")

    page.get_by_role("link", name="Settings").click()
    page.get_by_role("heading", name="Runtime settings").wait_for()
    page.get_by_label("Value of location_floor").fill("99")
    page.locator("#location_floor").evaluate("e => e.removeAttribute('max')")  # the server's check
    page.get_by_role("button", name="Save settings").click()
    assert "location floor: " in page.locator("#location_floor-error").inner_text()
    no_sideways_scroll(page)
    checkpoint(page, "settings-refused")

    page.get_by_role("link", name="Stats").click()
    page.get_by_role("heading", name="Stats", exact=True).wait_for()
    assert page.locator('[data-stat="vendors.verified"]').inner_text() == "2"
    with httpx.Client(base_url=web_server.api_url, timeout=10) as http:
        assert http.post("/v1/vendors", json={"name": "Late Signup"}).status_code == 201
    # the panel follows without a reload
    expect(page.locator('[data-stat="vendors.pending"]')).to_have_text("1", timeout=30_000)
    no_sideways_scroll(page)
    checkpoint(page, "stats-live")
    csp = [m for m in page.console_errors if "Content Security Policy" in m]
    assert not csp, csp

    page.get_by_role("button", name="Sign out").click()
    page.goto("/operator/audit")
    assert "/operator/signin" in page.url
