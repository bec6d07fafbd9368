"""Browser tests: Playwright for Python driving Debian's Chromium (headless) against a real
``intentcast serve``.

- ``chromium_path``: ``INTENTCAST_CHROMIUM`` or ``/usr/bin/chromium`` (or ``chromium`` on
  ``PATH``). Without one the tests skip with a message — unless
  ``INTENTCAST_REQUIRE_BROWSER=1`` (``.ci/run`` sets it), where that is a failure.
- ``web_server``: one ``intentcast serve`` per session on a free loopback port, with its
  own data dir (embedded PostgreSQL and Redis) and vendors verified on sign-up; its
  ``url`` is ``http://localhost:PORT`` (a WebAuthn relying party needs a host name).
- ``browser``: Chromium, headless, without any of its background connections (this
  machine's closed network refuses them), a fresh profile per launch, one per test module.
- ``page``: a new context (phone width) and page; every request it makes is recorded, and
  the test fails if any goes to another origin than the server's.
- ``checkpoint(page, name)``: a full-page screenshot into the artifacts dir
  (``INTENTCAST_ARTIFACTS``, else ``test-artifacts/browser/``, one folder per test) and
  the axe-core accessibility check of the page as it is, failing on any violation.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import Server, assert_all_gone
from tests.helpers import REPO_ROOT

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
]
PHONE = {"width": 390, "height": 844}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
AXE_MUST_RUN = ("label", "heading-order", "color-contrast")
"""Rules the check must have applied (passed or found nothing to check) on every page."""


def _require_browser() -> bool:
    return os.environ.get("INTENTCAST_REQUIRE_BROWSER", "") not in ("", "0", "false", "no")


def find_chromium() -> str | None:
    explicit = os.environ.get("INTENTCAST_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for candidate in (
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        message = (
            "no Chromium found (set INTENTCAST_CHROMIUM, or `apt-get install -y chromium` for "
            "/usr/bin/chromium); the browser tests need it"
        )
        if _require_browser():
            pytest.fail(message + " — INTENTCAST_REQUIRE_BROWSER is set", pytrace=False)
        pytest.skip(message)
    return path


@dataclass
class WebServer:
    server: Server

    @property
    def url(self) -> str:
        return f"http://localhost:{self.server.port}"

    @property
    def api_url(self) -> str:
        """The same server for programs (the vendor's client library)."""
        return self.server.url


@pytest.fixture(scope="session")
def web_server(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    server = Server(tmp_path_factory.mktemp("web") / "data", auto_verify_vendors="true")
    server.start()
    try:
        yield WebServer(server)
    finally:
        if server.running:
            assert_all_gone(server.stop())


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    """Per module, not per session: Playwright's sync API marks an event loop as running
    in this thread while it is started, which would stop pytest-asyncio's tests (the API
    suite) that run after it in the same pytest process."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class RequestLog:
    """Every URL the page asked for, and those of another origin than ``origin``."""

    origin: str
    urls: list[str] = field(default_factory=list)

    def record(self, url: str) -> None:
        self.urls.append(url)

    @property
    def foreign(self) -> list[str]:
        out = []
        for url in self.urls:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if f"{parts.scheme}://{parts.netloc}" != self.origin:
                out.append(url)
        return out


@pytest.fixture
def request_log(web_server: WebServer) -> RequestLog:
    return RequestLog(web_server.url)


@pytest.fixture
def page(browser: Any, web_server: WebServer, request_log: RequestLog) -> Iterator[Any]:
    """A fresh context (cookies, storage) at phone width; fails the test if the page made
    any request to another origin."""
    context = browser.new_context(viewport=PHONE, base_url=web_server.url, accept_downloads=True)
    context.on("request", lambda req: request_log.record(req.url))
    context.set_default_timeout(15_000)
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.console_errors = console_errors  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()
    assert request_log.urls, "no request was recorded"
    assert not request_log.foreign, f"requests to other origins: {request_log.foreign}"


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    root = Path(os.environ.get("INTENTCAST_ARTIFACTS") or REPO_ROOT / "test-artifacts" / "browser")
    folder = root / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (and a check that the rules the
    project promises were applied)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(
        page,
        options={
            "runOnly": {"type": "tag", "values": AXE_TAGS},
            "resultTypes": ["violations", "passes", "inapplicable"],
        },
    )
    response = results.response
    applied = {r["id"] for key in ("passes", "inapplicable", "violations") for r in response[key]}
    missing = [rule for rule in AXE_MUST_RUN if rule not in applied]
    assert not missing, f"axe did not apply {missing}"
    return response["violations"]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        targets = [node.get("target") for node in violation.get("nodes", [])][:5]
        lines.append(f"{violation['id']}: {violation['help']} at {targets}")
    return "\n".join(lines)


@pytest.fixture
def checkpoint(artifacts_dir: Path) -> Callable[..., None]:
    """``checkpoint(page, "03-preview")``: screenshot the page and check its accessibility
    (and that it is not an error page, unless ``error_page=True``)."""
    counter = [0]

    def check(page: Any, name: str, *, error_page: bool = False) -> None:
        counter[0] += 1
        stem = f"{counter[0]:02d}-{name}"
        page.screenshot(path=str(artifacts_dir / f"{stem}.png"), full_page=True)
        if not error_page:
            assert page.locator("body.error-page").count() == 0, f"{name}: an error page"
        violations = axe_violations(page)
        if violations:
            (artifacts_dir / f"{stem}-axe.json").write_text(json.dumps(violations, indent=1))
        assert not violations, f"{name}: accessibility violations\n" + describe_violations(
            violations
        )

    return check
