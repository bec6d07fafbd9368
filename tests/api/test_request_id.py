"""``X-Request-ID``: kept when acceptable, made up otherwise, on every answer (errors and
unknown paths too), and recorded with the outbox row of what the request changed, which is
how the workers' log lines name the same request."""

from __future__ import annotations

import logging
import re

import pytest

from intentcast.logs import RequestContext
from tests.helpers import CAMERA, publish

GENERATED = re.compile(r"^[0-9a-f]{32}$")


async def test_a_clients_request_id_is_echoed(client, buyer) -> None:
    response = await client.get("/v1/me", headers=buyer.headers | {"X-Request-ID": "trace-7 a/b"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "trace-7 a/b"


async def test_a_request_id_is_made_up_when_none_is_sent(client, buyer) -> None:
    first = await client.get("/v1/me", headers=buyer.headers)
    second = await client.get("/v1/me", headers=buyer.headers)
    assert GENERATED.match(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize("sent", ["x" * 201, "tab\there", "nul\x7f"])
async def test_an_unacceptable_request_id_is_replaced(client, buyer, sent: str) -> None:
    response = await client.get("/v1/me", headers=buyer.headers | {"X-Request-ID": sent})
    assert response.status_code == 200
    assert GENERATED.match(response.headers["x-request-id"])


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/me", 401),  # refused by the authentication middleware
        ("GET", "/no/such/path", 404),  # matched no route
        ("DELETE", "/v1/categories", 405),
        ("POST", "/v1/buyers", 400),  # invalid body: a problem document
    ],
)
async def test_errors_carry_the_request_id_too(client, method: str, path: str, status: int) -> None:
    response = await client.request(method, path, content=b"{", headers={"X-Request-ID": "err-1"})
    assert response.status_code == status
    assert response.headers["x-request-id"] == "err-1"


async def test_the_outbox_row_remembers_the_request(client, buyer, db) -> None:
    response = await client.post(
        "/v1/intents", json=CAMERA, headers=buyer.headers | {"X-Request-ID": "publish-1"}
    )
    assert response.status_code == 201
    recorded = await db.fetch(
        "SELECT event_type, request_id FROM outbox WHERE aggregate_id = $1",
        response.json()["id"],
    )
    assert [(r["event_type"], r["request_id"]) for r in recorded] == [
        ("intent.published", "publish-1")
    ]


async def test_the_access_line_names_the_route_status_and_request(client, buyer, caplog) -> None:
    caplog.handler.addFilter(RequestContext("api"))  # what every configured handler has
    with caplog.at_level(logging.INFO, logger="intentcast.access"):
        await client.get(
            f"/v1/intents/{(await publish(client, buyer))['id']}",
            headers=buyer.headers | {"X-Request-ID": "read-1"},
        )
    (line,) = [r for r in caplog.records if getattr(r, "request_id", None) == "read-1"]
    assert line.getMessage().startswith("GET /v1/intents/{intent_id} 200 ")
    assert line.status == 200 and line.path == "/v1/intents/{intent_id}"
    assert buyer.token not in caplog.text


async def test_metrics_count_refused_and_unmatched_requests(client) -> None:
    await client.get("/v1/me")
    await client.get("/no/such/path")
    text = (await client.get("/metrics")).text
    assert 'intentcast_requests_total{method="GET",path="/v1/me",status_code="401"}' in text
    assert 'intentcast_requests_total{method="GET",path="unmatched",status_code="404"}' in text
