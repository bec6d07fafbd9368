"""Careless or hostile request bodies get 4xx problem details naming the field, never a 500."""

from __future__ import annotations

import pytest

PROBLEM = "application/problem+json"


def fields_of(response) -> list[str]:
    assert response.headers["content-type"].startswith(PROBLEM), response.text
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == response.status_code
    return [e["field"] for e in body["errors"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"display_name": 42}, "display_name"),
        ({"display_name": None}, "display_name"),
        ({"display_name": ["a"]}, "display_name"),
        ({}, "display_name"),
        ({"display_name": "ada", "favourite_colour": "red"}, "favourite_colour"),
        ({"display_name": "x" * 10_000}, "display_name"),
        ({"display_name": "ada", "email": "x" * 300 + "@example.org"}, "email"),
        ({"display_name": "ada", "email": "nope"}, "email"),
        ({"display_name": "ada", "phone": "call me maybe"}, "phone"),
        ({"display_name": "ada", "country": "Germany"}, "country"),
        ({"display_name": "ada", "address": {"street": "x"}}, "address"),
    ],
)
async def test_bad_buyer_bodies_name_the_field(client, body, field) -> None:
    response = await client.post("/v1/buyers", json=body)
    assert response.status_code == 400
    assert field in fields_of(response)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "v", "website": "javascript:alert(1)"}, "website"),
        ({"name": "v", "website": "ftp://x.example"}, "website"),
        ({"name": "v", "description": "d" * 5000}, "description"),
        ({"name": "v", "status": "verified"}, "status"),
    ],
)
async def test_bad_vendor_bodies_name_the_field(client, body, field) -> None:
    response = await client.post("/v1/vendors", json=body)
    assert response.status_code == 400
    assert field in fields_of(response)


@pytest.mark.parametrize(
    "raw",
    [b"{", b"not json", b'{"display_name": "a",}', b"\xff\xfe\x00", b"[]", b"null", b'"str"'],
)
async def test_malformed_json_is_400_problem(client, raw) -> None:
    response = await client.post(
        "/v1/buyers", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert fields_of(response)


async def test_several_bad_fields_are_all_reported_or_the_first_named(client) -> None:
    response = await client.post("/v1/buyers", json={"display_name": 1, "email": 2})
    assert response.status_code == 400
    assert set(fields_of(response)) & {"display_name", "email"}


async def test_oversized_body_is_413(client, settings) -> None:
    huge = b'{"display_name": "' + b"x" * (settings.max_body_bytes + 10) + b'"}'
    response = await client.post(
        "/v1/buyers", content=huge, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith(PROBLEM)
    keyed = await client.post(
        "/v1/buyers",
        content=huge,
        headers={"content-type": "application/json", "Idempotency-Key": "big"},
    )
    assert keyed.status_code == 413


async def test_unknown_route_and_method_are_problem_details(client) -> None:
    missing = await client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith(PROBLEM)
    wrong = await client.put("/v1/buyers", json={})
    assert wrong.status_code == 405
    assert wrong.headers["content-type"].startswith(PROBLEM)


async def test_bad_query_parameters_name_the_parameter(client, vendor) -> None:
    response = await client.get(
        "/v1/vendor/tokens", headers=vendor.headers, params={"limit": "lots"}
    )
    assert response.status_code == 400
    assert any("limit" in f for f in fields_of(response))
    response = await client.get(
        "/v1/vendor/tokens", headers=vendor.headers, params={"limit": 10_000}
    )
    assert response.status_code == 400
    assert any("limit" in f for f in fields_of(response))


async def test_bad_idempotency_key_is_400(client) -> None:
    response = await client.post(
        "/v1/buyers", json={"display_name": "a"}, headers={"Idempotency-Key": "x" * 300}
    )
    assert response.status_code == 400
    assert fields_of(response) == ["header.Idempotency-Key"]
