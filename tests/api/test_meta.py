"""Health, readiness, metrics and the committed OpenAPI document."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from intentcast.api.meta import openapi_document
from tests.helpers import REPO_ROOT


async def test_health_and_ready(client) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "postgres": "ok", "redis": "ok"}


async def test_ready_is_503_when_redis_is_unreachable(make_client, make_settings, tmp_path) -> None:
    broken = await make_client(make_settings(redis_url=f"unix://{tmp_path}/no-such.sock"))
    ready = await broken.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["postgres"] == "ok" and ready.json()["redis"].startswith("error")


async def test_metrics_count_requests_by_route(client, vendor) -> None:
    await client.get(f"/v1/vendors/{vendor.id}")
    await client.get("/v1/vendors/ven_other")
    text = (await client.get("/metrics")).text
    assert "# TYPE intentcast_requests_total counter" in text
    assert 'path="/v1/vendors/{vendor_id}"' in text
    assert "intentcast_request_duration_seconds_bucket" in text


async def test_served_openapi_matches_committed_file_and_is_valid_3_1(client) -> None:
    committed = (REPO_ROOT / "openapi" / "openapi.json").read_bytes()
    served = await client.get("/openapi.json")
    assert served.status_code == 200
    assert served.content == committed, "run `make openapi` and commit openapi/openapi.json"
    document = json.loads(committed)
    assert document["openapi"].startswith("3.1")
    validate(document)
    assert openapi_document(client.app) == committed


@pytest.mark.parametrize("path", ["/v1/buyers", "/v1/vendors", "/v1/me", "/v1/vendor/tokens"])
def test_openapi_documents_the_contract_routes(path) -> None:
    document = json.loads((REPO_ROOT / "openapi" / "openapi.json").read_text())
    assert path in document["paths"]
    for operation in document["paths"][path].values():
        assert operation.get("operationId"), path


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/v1/intents", "post"),
        ("/v1/intents/preview", "post"),
        ("/v1/intents/{intent_id}", "patch"),
    ],
)
def test_intent_routes_carry_request_examples(path, method) -> None:
    document = json.loads((REPO_ROOT / "openapi" / "openapi.json").read_text())
    body = document["paths"][path][method]["requestBody"]["content"]["application/json"]
    assert body["schema"]["examples"], (path, method)
    for route in ("/v1/intents", "/v1/intents/{intent_id}", "/v1/categories"):
        assert "get" in document["paths"][route]
