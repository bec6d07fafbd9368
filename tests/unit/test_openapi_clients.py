"""A client generated from the committed OpenAPI document: ``openapi-python-client``
generates it without a warning, and what it generates is typed where it matters — problem
details on every error status, the event feed as the union of its event types, the SSE
streams as text. Offline: the generator reads the file and the client talks to an
``httpx.MockTransport``."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers import REPO_ROOT

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "intentcast_generated_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, object]:
    """The generator's output (stdout and stderr) and the generated package, imported."""
    root = tmp_path_factory.mktemp("generated")
    config = root / "config.json"
    config.write_text(json.dumps({"post_hooks": []}))  # no ruff run: offline and quick
    run = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(REPO_ROOT / "openapi" / "openapi.json"),
            "--meta",
            "none",
            "--output-path",
            str(root / PACKAGE),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    sys.path.insert(0, str(root))
    try:
        package = importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
    return output, package


def test_the_generator_reports_no_warning(generated) -> None:
    output, _ = generated
    assert "warning" not in output.lower(), output
    assert "error" not in output.lower(), output


def _client(status: int, content_type: str, body: bytes, sent: list[httpx.Request] | None = None):
    """A generated client whose every request gets this answer (and is kept in ``sent``)."""

    def answer(request: httpx.Request) -> httpx.Response:
        if sent is not None:
            sent.append(request)
        return httpx.Response(status, headers={"content-type": content_type}, content=body)

    return importlib.import_module(f"{PACKAGE}.client").AuthenticatedClient(
        base_url="http://intentcast.test",
        token="icv_x",  # noqa: S106 (no server: the mock transport answers)
        httpx_args={"transport": httpx.MockTransport(answer)},
    )


def test_an_error_status_parses_as_problem_details(generated) -> None:
    get_offer = importlib.import_module(f"{PACKAGE}.api.offers.get_offer")
    models = importlib.import_module(f"{PACKAGE}.models")
    problem = {
        "type": "urn:intentcast:problem:not-found",
        "title": "Not found",
        "status": 404,
        "detail": "No such offer.",
        "code": "not-found",
    }
    client = _client(404, "application/problem+json", json.dumps(problem).encode())
    answer = get_offer.sync(offer_id="off_x", client=client)
    assert isinstance(answer, models.Problem)
    assert answer.code == "not-found"


def test_the_feed_parses_each_event_by_its_type(generated) -> None:
    list_events = importlib.import_module(f"{PACKAGE}.api.vendor.list_vendor_events")
    models = importlib.import_module(f"{PACKAGE}.models")
    page = {
        "items": [
            {
                "id": "evt_1",
                "seq": 1,
                "type": "reveal.revoked",
                "created_at": "2026-11-26T12:00:00Z",
                "data": {"reveal_id": "rev_1", "intent_id": "int_1"},
            },
            {
                "id": "evt_2",
                "seq": 2,
                "type": "intent.closed",
                "created_at": "2026-11-26T12:01:00Z",
                "data": {
                    "intent": {
                        "id": "int_1",
                        "status": "fulfilled",
                        "category": "electronics/cameras",
                        "title": "Camera",
                        "description": None,
                        "attributes": {},
                        "quantity": 1,
                        "budget": None,
                        "location": None,
                        "fulfilment": ["shipping"],
                        "needed_by": None,
                        "expires_at": "2026-12-26T12:00:00Z",
                        "published_at": "2026-11-26T12:00:00Z",
                        "terms": {
                            "no_tracking": True,
                            "no_resale": True,
                            "contact_via_relay_only": True,
                            "retention_days": 30,
                        },
                    }
                },
            },
        ],
        "next": None,
        "last_seq": 2,
    }
    client = _client(200, "application/json", json.dumps(page).encode())
    answer = list_events.sync(client=client)
    assert isinstance(answer, models.EventPage)
    revoked, closed = answer.items
    assert isinstance(revoked, models.VendorRevealRevokedEvent)
    assert revoked.data.reveal_id == "rev_1"
    assert isinstance(closed, models.VendorIntentClosedEvent)  # not intent.updated's model
    assert closed.data.intent.status == "fulfilled"


def test_a_stream_answers_text(generated) -> None:
    stream = importlib.import_module(f"{PACKAGE}.api.offers.stream_buyer_events")
    frame = b'id: 1\nevent: offer.created\ndata: {"id":"evt_1"}\n\n'
    client = _client(200, "text/event-stream", frame)
    assert stream.sync(client=client) == frame.decode()
    assert hasattr(importlib.import_module(f"{PACKAGE}.models"), "BuyerOfferCreatedEvent")


def test_a_post_sends_the_idempotency_key(generated) -> None:
    withdraw = importlib.import_module(f"{PACKAGE}.api.offers.withdraw_offer")
    sent: list[httpx.Request] = []
    problem = {"type": "t", "title": "t", "status": 409, "detail": "d", "code": "c"}
    client = _client(409, "application/problem+json", json.dumps(problem).encode(), sent)
    withdraw.sync(offer_id="off_x", client=client, idempotency_key="withdraw-off_x")
    assert sent[0].headers["Idempotency-Key"] == "withdraw-off_x"
    assert sent[0].headers["Authorization"] == "Bearer icv_x"
