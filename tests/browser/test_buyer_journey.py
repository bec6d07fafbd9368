"""The whole buyer journey in a real browser against a real ``intentcast serve``, with the
example vendor bot (``examples/vendor_bot.py``) as the vendor: sign up with a passkey (the
virtual authenticator), add the details a reveal may disclose, compose (a phone
number visibly redacted in the preview), publish, an offer arriving without a reload, the
relay chat, a reveal the vendor accepts the terms of, accept, the ledger entry, revoke,
export, delete. Every page is screenshotted and checked for accessibility; the ``page``
fixture fails the test if anything was requested from another origin."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_passkeys import add_virtual_authenticator
from tests.helpers import REPO_ROOT

PHONE = "+49 89 4132 7788"
VENDOR = "Foto Huber"
LIVE_WITHIN_MS = 30_000
"""An offer (the bot thinks up to 1.5 s, the matcher and the stream add a little)."""


@pytest.fixture
def vendor_bot(web_server: Any, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The example vendor bot, signed up as a new vendor (verified at once by this server),
    selling cameras in Germany; stopped (SIGTERM, by pid) after the test."""
    log = tmp_path / "vendor-bot.log"
    process = subprocess.Popen(
        [
            sys.executable,
            str(REPO_ROOT / "examples" / "vendor_bot.py"),
            "--url",
            web_server.api_url,
            "--sign-up",
            VENDOR,
            "--categories",
            "electronics/cameras",
            "--country",
            "DE",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while "listening for" not in log.read_text():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the vendor bot did not start:\n" + log.read_text()
        time.sleep(0.1)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        print(log.read_text())


def choose_category(page: Any, path: str) -> None:
    field = page.get_by_label("Category")
    if field.evaluate("e => e.tagName") == "SELECT":
        field.select_option(path)
    else:
        field.fill(path)


def test_buyer_journey(page: Any, checkpoint: Any, vendor_bot: Any, tmp_path: Path) -> None:
    # sign up with a passkey (Chromium's virtual authenticator): no e-mail, no password
    add_virtual_authenticator(page)
    page.goto("/")
    checkpoint(page, "start")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Nickname").fill("Ada")
    page.get_by_label("Name for this passkey").fill("my phone")
    page.get_by_role("button", name="Sign up with a passkey").click()
    page.get_by_role("heading", name="Your account is ready").wait_for()
    assert page.get_by_label("Your API token").input_value().startswith("icb_")
    checkpoint(page, "signed-up")

    # the details a reveal can disclose: kept encrypted, added when the buyer wants
    page.goto("/account")
    page.get_by_role("link", name="Edit my details").click()
    page.get_by_label("E-mail", exact=True).fill("ada@example.org")
    page.get_by_label("Phone", exact=True).fill(PHONE)
    page.get_by_label("Country (two letters, e.g. DE)", exact=True).fill("DE")
    page.get_by_role("button", name="Save my details").click()
    page.get_by_text("Your details are saved.").wait_for()
    checkpoint(page, "details")
    page.goto("/account/tokens")
    checkpoint(page, "tokens")

    # compose: the phone number in the description is visibly redacted in the preview
    page.goto("/intents")
    page.get_by_role("link", name=re.compile("compose", re.IGNORECASE)).first.click()
    choose_category(page, "electronics/cameras/mirrorless")
    page.get_by_label("Title").fill("Sony A7 IV body")
    page.get_by_label("Description (optional)").fill(
        f"New, with warranty. Call me on {PHONE} after six."
    )
    page.get_by_label("At most").fill("1800")
    page.get_by_label("Country (two letters, e.g. DE)").fill("DE")
    page.get_by_label("Latitude").fill("48.137")
    page.get_by_label("Longitude").fill("11.575")
    page.get_by_label("pickup").check()
    preview = page.get_by_test_id("preview")
    shown = preview.get_by_test_id("preview-description")
    shown.filter(has_text="[phone removed]").wait_for()
    assert "4132" not in shown.inner_text()
    marked = preview.locator("mark.redacted")
    assert marked.first.inner_text() == PHONE
    assert "phone in description" in preview.get_by_test_id("redactions").inner_text()
    assert "km²" in preview.get_by_test_id("preview-area").inner_text()
    checkpoint(page, "compose-preview")

    # publish; the offer arrives while the page stays loaded
    page.get_by_role("button", name="Publish").click()
    page.get_by_role("heading", name="Sony A7 IV body").wait_for()
    assert page.get_by_test_id("intent-status").inner_text() == "open"
    page.evaluate("window.journeyMarker = 'not reloaded'")
    checkpoint(page, "published")
    offer = page.get_by_test_id("offer").first
    offer.wait_for(timeout=LIVE_WITHIN_MS)
    assert page.evaluate("window.journeyMarker") == "not reloaded"
    assert VENDOR in offer.inner_text()
    assert "EUR" in offer.get_by_test_id("offer-price").inner_text()
    chat_link = page.get_by_role("link", name=f"Conversation with {VENDOR}").first
    chat_link.wait_for(timeout=LIVE_WITHIN_MS)
    assert page.evaluate("window.journeyMarker") == "not reloaded"
    checkpoint(page, "offer-arrived")

    # the relay chat: the bot greeted; the buyer asks, the answer arrives live
    chat_link.click()
    messages = page.get_by_test_id("messages")
    assert "Hello from Foto Huber" in messages.inner_text()
    page.get_by_label("Your message").fill(f"Is delivery possible? Or call {PHONE}.")
    page.get_by_role("button", name="Send").click()
    mine = page.locator("ol.messages li.mine").last
    assert "The vendor sees" in mine.inner_text() and "[phone removed]" in mine.inner_text()
    page.evaluate("window.journeyMarker = 'not reloaded'")
    page.locator("ol.messages li.theirs").nth(1).wait_for(timeout=LIVE_WITHIN_MS)
    assert page.evaluate("window.journeyMarker") == "not reloaded"
    checkpoint(page, "chat")

    # reveal the e-mail address to the vendor; the bot accepts the terms
    page.get_by_role("link", name="Back to the intent").click()
    page.get_by_role("button", name="Reveal details…").first.click()
    dialog = page.get_by_role("dialog", name=f"Reveal to {VENDOR}")
    dialog.get_by_label("email").check()
    checkpoint(page, "reveal-dialog")
    dialog.get_by_role("button", name="Reveal").click()
    page.get_by_role("status").filter(has_text="Revealed").wait_for()
    reveal = page.get_by_test_id("reveal").first
    deadline = time.monotonic() + LIVE_WITHIN_MS / 1000
    while "accepted your terms" not in reveal.inner_text():
        assert time.monotonic() < deadline, reveal.inner_text()
        time.sleep(0.5)
        page.reload()
    checkpoint(page, "revealed-terms-accepted")

    # accept the offer, pinning the version shown
    accept = page.get_by_role("button", name=re.compile(r"^Accept version \d+$")).first
    accept.click()
    page.get_by_role("status").filter(has_text="You accepted the offer").wait_for()
    assert "accepted" in page.get_by_test_id("offer-status").first.inner_text()
    checkpoint(page, "accepted")

    # the ledger: the reveal and the vendor's acceptance of the terms, with receipts; revoke
    page.get_by_role("link", name="Disclosures").click()
    kinds = page.get_by_test_id("ledger-entry").evaluate_all(
        "entries => entries.map(e => e.dataset.kind)"
    )
    assert kinds == ["terms_accepted", "reveal"], kinds
    page.get_by_test_id("ledger-entry").first.get_by_text("Signed receipt").click()
    checkpoint(page, "ledger")
    page.get_by_role("button", name=f"Revoke email from {VENDOR}").click()
    page.get_by_role("status").filter(has_text="Revoked").wait_for()
    assert page.get_by_test_id("ledger-entry").first.get_attribute("data-kind") == "revoke"
    assert page.get_by_role("button", name=re.compile("^Revoke")).count() == 0
    checkpoint(page, "revoked")

    # export everything
    page.get_by_role("link", name="My data").click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download my data").click()
    exported = tmp_path / "export.json"
    download_info.value.save_as(exported)
    document = json.loads(exported.read_text())
    assert document["buyer"]["email"] == "ada@example.org"
    assert [i["title"] for i in document["intents"]] == ["Sony A7 IV body"]
    assert document["offers"][0]["status"] == "accepted"
    assert [r["status"] for r in document["reveals"]] == ["revoked"]
    checkpoint(page, "export")

    # delete the account: signed out, the session gone
    page.get_by_label('Type "delete" to confirm').fill("delete")
    page.get_by_role("button", name="Delete my account").click()
    page.get_by_role("heading", name="Your account is deleted").wait_for()
    checkpoint(page, "deleted")
    page.goto("/intents")
    assert "/signin" in page.url
    checkpoint(page, "signed-out")
