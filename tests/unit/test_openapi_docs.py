"""The committed OpenAPI document says what a generated client needs: a description on
every operation, problem details on every error status, ``Idempotency-Key`` where it is
honoured, ``security: []`` where no token is needed, the SSE streams as
``text/event-stream``, and a schema for the ``data`` of every event type the domain
defines (``api/event_docs.py``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from intentcast.api.event_docs import (
    BUYER_EVENTS,
    VENDOR_EVENTS,
    WEBHOOK_ONLY_EVENTS,
    WebhookDisabledData,
    WebhookTestData,
)
from intentcast.domain import webhooks
from intentcast.domain.events import BuyerEventType, VendorEventType
from tests.helpers import REPO_ROOT

METHODS = {"get", "put", "post", "patch", "delete"}
PUBLIC = {
    "health",
    "ready",
    "createBuyer",
    "createVendor",
    "listCategories",
    "getVendorProfile",
    "receiptPublicKey",
    "receiptPublicKeys",
}
"""The operations anyone may call without a token."""


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads((REPO_ROOT / "openapi" / "openapi.json").read_text())


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def test_every_event_type_has_a_data_schema() -> None:
    assert set(VENDOR_EVENTS) == {str(t) for t in VendorEventType}
    assert set(BUYER_EVENTS) == {str(t) for t in BuyerEventType}
    assert not set(WEBHOOK_ONLY_EVENTS) & set(VENDOR_EVENTS)


def test_the_webhook_events_data_is_as_documented() -> None:
    """``webhook.disabled`` and ``webhook.test`` (which no API test run produces) against
    the domain functions that make their ``data``."""
    since = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    for failing_since in (since, None):
        data = webhooks.disabled_event_data(
            webhook_id="wh_1", url="https://x.example/h", reason="r", failing_since=failing_since
        )
        documented = msgspec.convert(data, WebhookDisabledData, strict=False)
        assert documented.webhook.failing_since == failing_since
        assert set(data) == {"webhook"}
        assert set(data["webhook"]) == set(msgspec.structs.asdict(documented.webhook))
    data = webhooks.sample_event_data(webhook_id="wh_1")
    assert msgspec.to_builtins(msgspec.convert(data, WebhookTestData)) == data


def test_every_operation_has_a_description(document) -> None:
    missing = [o["operationId"] for _, _, o in operations(document) if not o.get("description")]
    assert not missing, f"write a docstring for: {missing}"


def test_every_error_is_problem_details(document) -> None:
    for method, path, operation in operations(document):
        errors = {s: r for s, r in operation["responses"].items() if s.startswith("4")}
        assert "400" in errors, (method, path)
        for status, response in errors.items():
            assert response["content"] == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }, (method, path, status)


def test_idempotency_key_is_declared_on_every_post_a_token_makes(document) -> None:
    for method, path, operation in operations(document):
        declared = [
            p for p in operation.get("parameters", []) if p["name"].lower() == "idempotency-key"
        ]
        expected = method == "post" and operation["operationId"] not in PUBLIC
        assert len(declared) == expected, (method, path)
        for parameter in declared:
            assert (parameter["in"], parameter["required"]) == ("header", False)
            assert "422" in parameter["description"] and "409" in parameter["description"]


def test_public_operations_need_no_token(document) -> None:
    assert document["security"] == [{"bearer": []}]
    public = {o["operationId"] for _, _, o in operations(document) if o.get("security") == []}
    assert public == PUBLIC


@pytest.mark.parametrize(
    ("path", "events"), [("/v1/vendor/stream", "VendorEvent"), ("/v1/me/stream", "BuyerEvent")]
)
def test_streams_are_server_sent_events(document, path, events) -> None:
    operation = document["paths"][path]["get"]
    ok = operation["responses"]["200"]
    assert list(ok["content"]) == ["text/event-stream"]
    assert f"`{events}`" in ok["description"]
    headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
    assert "Last-Event-ID" in headers


@pytest.mark.parametrize(
    ("union", "catalogue"), [("VendorEvent", VENDOR_EVENTS), ("BuyerEvent", BUYER_EVENTS)]
)
def test_events_are_a_union_discriminated_by_type(document, union, catalogue) -> None:
    schemas = document["components"]["schemas"]
    mapping = schemas[union]["discriminator"]["mapping"]
    assert schemas[union]["discriminator"]["propertyName"] == "type"
    assert set(mapping) == set(catalogue)
    assert sorted(r["$ref"] for r in schemas[union]["oneOf"]) == sorted(mapping.values())
    for event_type, ref in mapping.items():
        envelope = schemas[ref.rsplit("/", 1)[1]]
        assert envelope["properties"]["type"]["const"] == event_type
        data_ref = envelope["properties"]["data"]["$ref"]
        assert data_ref.endswith("/" + catalogue[event_type].data.__name__)
        assert envelope["description"] == catalogue[event_type].description


def test_webhooks_document_every_vendor_event(document) -> None:
    assert set(document["webhooks"]) == set(VENDOR_EVENTS) | set(WEBHOOK_ONLY_EVENTS)
    schemas = document["components"]["schemas"]
    for event_type, item in document["webhooks"].items():
        body = item["post"]["requestBody"]["content"]["application/json"]["schema"]
        envelope = schemas[body["$ref"].rsplit("/", 1)[1]]
        assert envelope["properties"]["type"]["const"] == event_type
        headers = {p["name"] for p in item["post"]["parameters"]}
        assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}


def test_every_reference_resolves(document) -> None:
    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    found = set(refs(document))
    assert found
    for ref in found:
        assert ref.startswith("#/"), ref
        node: Any = document
        for part in ref[2:].split("/"):
            assert part in node, ref
            node = node[part]
