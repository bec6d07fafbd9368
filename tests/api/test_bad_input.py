"""Careless or hostile request bodies get 4xx problem details naming the field, never a 500."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest

from tests.helpers import matched, publish, subscribe

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


# ---- M7 of the security review: bad input that used to answer 500 ------------------------
# Each test sends every case to one app (a fresh database per test is the expensive part)
# and reports every case that failed, by route.


@pytest.fixture
async def world(client, db, buyer, vendor) -> SimpleNamespace:
    """One of everything, so that a bad value reaches the database as it would in real use:
    an intent matched to ``vendor``, its offer, a thread with a message, a subscription and
    a webhook."""
    intent = await publish(client, buyer)
    await matched(db, intent["id"], vendor)
    made = await client.post(
        f"/v1/intents/{intent['id']}/offers",
        json={"price": {"amount": "1649.00", "currency": "EUR"}, "title": "A7 IV"},
        headers=vendor.headers,
    )
    assert made.status_code == 201, made.text
    thread = await client.post(
        f"/v1/intents/{intent['id']}/threads", json={"body": "Hi"}, headers=vendor.headers
    )
    assert thread.status_code == 201, thread.text
    message = await client.post(
        f"/v1/threads/{thread.json()['id']}/messages", json={"body": "Hi"}, headers=buyer.headers
    )
    assert message.status_code == 201, message.text
    hook = await client.post(
        "/v1/vendor/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=vendor.headers
    )
    assert hook.status_code == 201, hook.text
    return SimpleNamespace(
        buyer=buyer,
        vendor=vendor,
        intent=intent["id"],
        offer=made.json()["id"],
        thread=thread.json()["id"],
        message=message.json()["id"],
        subscription=(await subscribe(client, vendor))["id"],
        webhook=hook.json()["id"],
    )


def headers_for(world, role) -> dict[str, str]:
    return {None: {}, "buyer": world.buyer.headers, "vendor": world.vendor.headers}[role]


def problem_fields(response) -> list[str] | str:
    """The fields a 400 problem names, or what is wrong with the answer."""
    if response.status_code != 400 or not response.headers["content-type"].startswith(PROBLEM):
        return f"{response.status_code} {response.text[:300]}"
    return [e["field"] for e in response.json().get("errors", [])]


# Every route that takes a JSON body, with the role it needs (the body is decoded before any
# lookup, so the path ids need not exist).
JSON_ROUTES = [
    ("POST", "/v1/buyers", None),
    ("POST", "/v1/vendors", None),
    ("PATCH", "/v1/me", "buyer"),
    ("PATCH", "/v1/me", "vendor"),
    ("POST", "/v1/intents", "buyer"),
    ("POST", "/v1/intents/preview", "buyer"),
    ("PATCH", "/v1/intents/{intent}", "buyer"),
    ("POST", "/v1/intents/{intent}/reveals", "buyer"),
    ("POST", "/v1/intents/{intent}/threads", "vendor"),
    ("POST", "/v1/intents/{intent}/offers", "vendor"),
    ("PATCH", "/v1/offers/{offer}", "vendor"),
    ("POST", "/v1/offers/{offer}/accept", "buyer"),
    ("POST", "/v1/offers/{offer}/rating", "buyer"),
    ("POST", "/v1/threads/{thread}/messages", "buyer"),
    ("POST", "/v1/messages/{message}/flag", "buyer"),
    ("POST", "/v1/subscriptions", "vendor"),
    ("PATCH", "/v1/subscriptions/{subscription}", "vendor"),
    ("POST", "/v1/vendor/tokens", "vendor"),
    ("POST", "/v1/vendor/webhooks", "vendor"),
    ("POST", "/v1/vendor/webhooks/{webhook}/replay", "vendor"),
]

UNDECODABLE = {
    # `name` first: it is a field of both PATCH /v1/me bodies, which are decoded by type
    "invalid UTF-8": b'{"name":"\xff","display_name":"\xff"}',
    "invalid UTF-8 in a key": b'{"\xff":1}',
    "1000 nested arrays": b"[" * 1000 + b"]" * 1000,
    "5000 nested objects": b'{"a":' * 5000 + b"1" + b"}" * 5000,
}


async def test_undecodable_bodies_are_400_malformed_json_on_every_json_route(client, world) -> None:
    """M7: invalid UTF-8 and deep nesting escaped Litestar's decoding as UnicodeDecodeError
    and RecursionError (500), on every JSON route including the anonymous sign-ups."""
    wrong = {}
    for method, path, role in JSON_ROUTES:
        for name, raw in UNDECODABLE.items():
            response = await client.request(
                method,
                path.format(**vars(world)),
                content=raw,
                headers={"content-type": "application/json", **headers_for(world, role)},
            )
            fields = problem_fields(response)
            code = response.json().get("code")
            # PATCH /v1/me decodes by type, which refuses an array or an unknown field `a`
            # before the depth matters
            if path == "/v1/me" and "nested" in name and code == "validation-error":
                continue
            if fields != ["body"] or code != "malformed-json":
                wrong[f"{method} {path} as {role}: {name}"] = (code, fields)
    assert not wrong


def test_only_a_body_being_decoded_makes_these_errors_a_400() -> None:
    """The same exceptions raised anywhere else are the server's bug: a logged 500."""
    from intentcast.api.errors import decode_or_problem, undecodable_to_problem

    def deep(n: int) -> int:
        return deep(n + 1)

    try:
        deep(0)
    except RecursionError as exc:
        assert undecodable_to_problem(exc).status_code == 500
    try:
        b"\xff".decode()
    except UnicodeDecodeError as exc:
        assert undecodable_to_problem(exc).status_code == 500
    for raw, kind in ((b"[" * 1000 + b"]" * 1000, list), (b'{"a":"\xff"}', dict)):
        with pytest.raises(Exception) as raised:
            decode_or_problem(raw, kind)
        assert raised.value.status_code == 400
        assert raised.value.extra["code"] == "malformed-json"


NUL = "a\x00b"

# (method, path, role, body, the field the answer must name)
NUL_BODIES = [
    ("POST", "/v1/buyers", None, {"display_name": NUL}, "display_name"),
    ("POST", "/v1/buyers", None, {"display_name": "a", "name": NUL}, "name"),
    ("POST", "/v1/buyers", None, {"display_name": "a", "address": NUL}, "address"),
    ("POST", "/v1/buyers", None, {"display_name": "a", "email": "a\x00@b.org"}, "email"),
    ("POST", "/v1/vendors", None, {"name": NUL}, "name"),
    ("POST", "/v1/vendors", None, {"name": "v", "description": NUL}, "description"),
    ("POST", "/v1/vendors", None, {"name": "v", "website": "https://a.example/\x00"}, "website"),
    ("PATCH", "/v1/me", "buyer", {"display_name": NUL}, "display_name"),
    ("PATCH", "/v1/me", "buyer", {"address": NUL}, "address"),
    ("PATCH", "/v1/me", "vendor", {"name": NUL}, "name"),
    ("PATCH", "/v1/me", "vendor", {"description": NUL}, "description"),
    ("POST", "/v1/intents", "buyer", {"category": "electronics", "title": NUL * 3}, "title"),
    (
        "POST",
        "/v1/intents",
        "buyer",
        {"category": "electronics", "title": "camera", "description": NUL},
        "description",
    ),
    (
        "POST",
        "/v1/intents",
        "buyer",
        {"category": "electronics", "title": "camera", "attributes": {"mount": [NUL]}},
        "attributes",
    ),
    (
        "POST",
        "/v1/intents",
        "buyer",
        {"category": "electronics", "title": "camera", "attributes": {"a\x00": "x"}},
        "attributes",
    ),
    ("POST", "/v1/intents", "buyer", {"category": NUL, "title": "camera"}, "category"),
    (
        "POST",
        "/v1/intents/preview",
        "buyer",
        {"category": "electronics", "title": "camera " + NUL},
        "title",
    ),
    ("PATCH", "/v1/intents/{intent}", "buyer", {"title": "camera " + NUL}, "title"),
    (
        "POST",
        "/v1/intents/{intent}/reveals",
        "buyer",
        {"vendor_id": NUL, "fields": ["email"]},
        "vendor_id",
    ),
    (
        "POST",
        "/v1/intents/{intent}/offers",
        "vendor",
        {"price": {"amount": "1", "currency": "EUR"}, "title": NUL},
        "title",
    ),
    ("PATCH", "/v1/offers/{offer}", "vendor", {"title": NUL}, "title"),
    ("PATCH", "/v1/offers/{offer}", "vendor", {"details": NUL}, "details"),
    ("PATCH", "/v1/offers/{offer}", "vendor", {"terms": NUL}, "terms"),
    ("POST", "/v1/offers/{offer}/rating", "buyer", {"stars": 5, "comment": NUL}, "comment"),
    ("POST", "/v1/intents/{intent}/threads", "vendor", {"body": NUL}, "body"),
    ("POST", "/v1/threads/{thread}/messages", "buyer", {"body": NUL}, "body"),
    ("POST", "/v1/messages/{message}/flag", "vendor", {"reason": NUL}, "reason"),
    (
        "POST",
        "/v1/subscriptions",
        "vendor",
        {"categories": ["electronics"], "keywords": [NUL]},
        "keywords",
    ),
    ("POST", "/v1/subscriptions", "vendor", {"categories": [NUL]}, "categories"),
    ("PATCH", "/v1/subscriptions/{subscription}", "vendor", {"keywords": [NUL]}, "keywords"),
    ("POST", "/v1/vendor/tokens", "vendor", {"label": NUL}, "label"),
    ("POST", "/v1/vendor/webhooks", "vendor", {"url": "https://hooks.example/\x00"}, "url"),
]


async def test_nul_in_any_text_is_400_naming_the_field(client, world) -> None:
    """M7: a NUL in stored text reached PostgreSQL (CharacterNotInRepertoireError, 500), and
    preview answered 200 with it."""
    wrong = {}
    for method, path, role, body, field in NUL_BODIES:
        response = await client.request(
            method, path.format(**vars(world)), json=body, headers=headers_for(world, role)
        )
        named = problem_fields(response)
        if not any(f == field or f.startswith((f"{field}.", f"{field}[")) for f in named):
            wrong[f"{method} {path} {field}"] = named
        elif field != "attributes":
            (error,) = response.json()["errors"]
            assert "NUL" in error["message"] or "regex" in error["message"], error
    assert not wrong


NUL_PATHS = [
    ("GET", "/v1/intents/int_%00", "buyer"),
    ("PATCH", "/v1/intents/int_%00", "buyer"),
    ("GET", "/v1/intents/int_%00/offers", "buyer"),
    ("GET", "/v1/vendor/intents/int_%00", "vendor"),
    ("GET", "/v1/vendors/ven_%00", None),
    ("POST", "/v1/vendors/ven_%00/block", "buyer"),
    ("GET", "/v1/offers/off_%00", "buyer"),
    ("POST", "/v1/offers/off_%00/withdraw", "vendor"),
    ("GET", "/v1/threads/thr_%00", "vendor"),
    ("GET", "/v1/subscriptions/sub_%00", "vendor"),
    ("DELETE", "/v1/vendor/tokens/tok_%00", "vendor"),
    ("GET", "/v1/vendor/reveals/rev_%00", "vendor"),
    ("DELETE", "/v1/reveals/rev_%00", "buyer"),
    ("GET", "/v1/vendor/webhooks/whk_%00/deliveries", "vendor"),
    ("GET", "/v1/vendor/webhooks/whk_%01%7f/deliveries", "vendor"),
]


async def test_control_characters_in_path_ids_are_404(client, world) -> None:
    """M7: `/v1/intents/int_%00` (and `/v1/vendors/ven_%00`, anonymous) reached PostgreSQL."""
    wrong = {}
    for method, path, role in NUL_PATHS:
        kwargs = {"json": {"title": "camera"}} if method == "PATCH" else {}
        response = await client.request(method, path, headers=headers_for(world, role), **kwargs)
        if response.status_code != 404 or not response.headers["content-type"].startswith(PROBLEM):
            wrong[f"{method} {path}"] = f"{response.status_code} {response.text[:200]}"
    assert not wrong


async def test_nul_in_a_query_parameter_is_400_naming_it(client, world) -> None:
    response = await client.get("/v1/categories", params={"under": "electronics\x00"})
    assert problem_fields(response) == ["query.under"]
    response = await client.get(
        "/v1/intents", params={"status": "open", "after": "\x00"}, headers=world.buyer.headers
    )
    assert problem_fields(response) == ["query.after"]


def cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


ID_CURSOR_ROUTES = [
    ("/v1/vendor/tokens", "vendor"),
    ("/v1/vendor/offers", "vendor"),
    ("/v1/vendor/webhooks", "vendor"),
    ("/v1/subscriptions", "vendor"),
    ("/v1/threads", "buyer"),
]
TIME_CURSOR_ROUTES = [
    ("/v1/vendor/webhooks/{webhook}/deliveries", "vendor"),
    ("/v1/intents", "buyer"),
    ("/v1/me/disclosures", "buyer"),
]
CONTROL_CURSORS = {
    "NUL": "AA",
    "NUL in an id": cursor("tok_\x00"),
    "NUL in a time cursor's id": cursor("2026-01-01T00:00:00+00:00|int_\x00"),
    "escape sequence": cursor("\x1b[2J"),
    "not ASCII": cursor("tok_é"),
}
OUT_OF_RANGE_TIME_CURSORS = {
    "year 1 in UTC": cursor("0001-01-01T00:00:00+14:00|x"),
    "year 10000 in UTC": cursor("9999-12-31T23:59:59-14:00|x"),
    "year 1899": cursor("1899-12-31T23:59:59+00:00|x"),
    "no time zone": cursor("2026-01-01T00:00:00|x"),
}


async def test_bad_cursors_are_400_naming_after(client, world) -> None:
    """M7: cursors decoding to control characters reached PostgreSQL, and time cursors out of
    range overflowed (OverflowError, asyncpg DataError)."""
    cases = [
        (route, name, after)
        for route in ID_CURSOR_ROUTES + TIME_CURSOR_ROUTES
        for name, after in CONTROL_CURSORS.items()
    ] + [
        (route, name, after)
        for route in TIME_CURSOR_ROUTES
        for name, after in OUT_OF_RANGE_TIME_CURSORS.items()
    ]
    wrong = {}
    for (path, role), name, after in cases:
        response = await client.get(
            path.format(**vars(world)), params={"after": after}, headers=headers_for(world, role)
        )
        if problem_fields(response) != ["query.after"]:
            wrong[f"{path} {name}"] = problem_fields(response)
    assert not wrong


BAD_MOMENTS = {
    "year 10000 in UTC": "9999-12-31T23:59:59-14:00",
    "year 1 in UTC": "0001-01-01T00:00:00+14:00",
    "year 1899": "1899-12-31T23:00:00Z",
    "year 9999": "9999-01-01T00:00:00Z",
}
MOMENT_ROUTES = [
    ("PATCH", "/v1/offers/{offer}", "vendor", "valid_until", {}),
    (
        "POST",
        "/v1/intents/{intent}/offers",
        "vendor",
        "valid_until",
        {"price": {"amount": "1", "currency": "EUR"}, "title": "t"},
    ),
    ("POST", "/v1/intents", "buyer", "expires_at", {"category": "electronics", "title": "cam"}),
    ("PATCH", "/v1/intents/{intent}", "buyer", "expires_at", {}),
    ("POST", "/v1/intents", "buyer", "needed_by", {"category": "electronics", "title": "cam"}),
    (
        "POST",
        "/v1/intents/preview",
        "buyer",
        "needed_by",
        {"category": "electronics", "title": "cam"},
    ),
    ("PATCH", "/v1/intents/{intent}", "buyer", "needed_by", {}),
]


async def test_dates_out_of_range_are_400_naming_the_field(client, world) -> None:
    """M7: `valid_until: 9999-12-31T23:59:59-14:00` overflowed PostgreSQL's timestamptz
    (DataError, 500). Dates and datetimes must fall in 1900-9998 (UTC)."""
    wrong = {}
    for method, path, role, field, body in MOMENT_ROUTES:
        for name, moment in BAD_MOMENTS.items():
            value = moment[:10] if field == "needed_by" else moment
            response = await client.request(
                method,
                path.format(**vars(world)),
                json=body | {field: value},
                headers=headers_for(world, role),
            )
            if problem_fields(response) != [field]:
                wrong[f"{method} {path} {field}: {name}"] = problem_fields(response)
    assert not wrong


async def test_dates_at_the_edges_of_the_range_are_accepted(client, world) -> None:
    preview = await client.post(
        "/v1/intents/preview",
        json={"category": "electronics", "title": "cam", "needed_by": "9998-12-31"},
        headers=world.buyer.headers,
    )
    assert preview.status_code == 200, preview.text
    revised = await client.patch(
        f"/v1/offers/{world.offer}",
        json={"valid_until": "9998-12-31T23:59:59+00:00"},
        headers=world.vendor.headers,
    )
    assert revised.status_code == 200, revised.text


@pytest.mark.parametrize("after_seq", [2**63, 99999999999999999999999])
async def test_replay_after_seq_beyond_int64_is_400_naming_it(client, world, after_seq) -> None:
    """M7: `after_seq` had no upper bound and overflowed PostgreSQL's bigint."""
    response = await client.post(
        f"/v1/vendor/webhooks/{world.webhook}/replay",
        json={"after_seq": after_seq},
        headers=world.vendor.headers,
    )
    assert problem_fields(response) == ["after_seq"]
    at_most = await client.post(
        f"/v1/vendor/webhooks/{world.webhook}/replay",
        json={"after_seq": 2**63 - 1},
        headers=world.vendor.headers,
    )
    assert at_most.status_code == 202, at_most.text
    assert at_most.json() == {"queued": 0}


OTHER_DIGITS = ["١٢", "１２", "²", "1\x00"]


async def test_event_seqs_in_other_digit_scripts_are_400(client, world) -> None:
    """Info (review): `?after=١٢` and `Last-Event-ID: ١٢` were read as 12."""
    wrong = {}
    for path, role in [
        ("/v1/vendor/matches", "vendor"),
        ("/v1/vendor/stream", "vendor"),
        ("/v1/me/stream", "buyer"),
    ]:
        for seq in OTHER_DIGITS:
            response = await client.get(
                path, params={"after": seq}, headers=headers_for(world, role)
            )
            if problem_fields(response) != ["query.after"]:
                wrong[f"{path}?after={seq!r}"] = problem_fields(response)
            if path.endswith("/stream") and seq.isprintable():
                # header values travel as bytes: a client sends UTF-8
                raw = headers_for(world, role) | {"Last-Event-ID": seq.encode()}
                response = await client.get(path, headers=raw)
                if response.status_code != 400:
                    wrong[f"{path} Last-Event-ID {seq!r}"] = problem_fields(response)
    assert not wrong


async def test_nul_in_headers_is_4xx(client, world) -> None:
    wrong = {}
    cases = [
        ("POST", "/v1/intents", {"Idempotency-Key": "k\x00"}),
        ("POST", "/v1/intents", {"Authorization": "Bearer icb_\x00"}),
        ("GET", "/v1/me", {"Authorization": "Bearer icb_\x00"}),
        ("GET", "/v1/me/stream", {"Last-Event-ID": "1\x00"}),
        ("GET", "/v1/vendor/stream", {"Last-Event-ID": "\x00"}),
    ]
    for method, path, header in cases:
        headers = headers_for(world, "vendor" if "vendor" in path else "buyer") | header
        body = {"category": "electronics", "title": "camera"} if method == "POST" else None
        response = await client.request(method, path, json=body, headers=headers)
        if not 400 <= response.status_code < 500 or not response.headers["content-type"].startswith(
            PROBLEM
        ):
            wrong[f"{method} {path} {header}"] = f"{response.status_code} {response.text[:200]}"
    assert not wrong


async def test_a_nul_anywhere_in_any_json_body_is_refused_naming_it(client, world) -> None:
    """Checked where every body is decoded (``CheckedRequest``, ``decode_or_problem``), so no
    field, however deep or however new, lets a NUL through to PostgreSQL: even fields a
    Struct does not know are named for their NUL first."""
    body = {"zz": ["ok", {"deep": "a\x00b"}], "k\x00": 1, "top": "\x00"}
    wrong = {}
    for method, path, role in JSON_ROUTES:
        response = await client.request(
            method, path.format(**vars(world)), json=body, headers=headers_for(world, role)
        )
        fields = problem_fields(response)
        if fields != ["body", "top", "zz.deep"]:
            wrong[f"{method} {path} as {role}"] = fields
        elif {e["message"] for e in response.json()["errors"]} != {
            "must not contain the NUL character (\\u0000)"
        }:
            wrong[f"{method} {path} as {role}"] = response.json()["errors"]
    assert not wrong
    # the JSON escape for a backslash followed by `u0000` is text, not a NUL
    fine = await client.post("/v1/buyers", json={"display_name": "\\u0000"})
    assert fine.status_code == 201, fine.text
    assert fine.json()["buyer"]["display_name"] == "\\u0000"


def test_nul_fields_walks_any_depth_without_recursion() -> None:
    from intentcast.api.errors import nul_fields

    deep: object = "a\x00"
    for _ in range(5000):
        deep = [{"x": deep}]
    assert nul_fields(deep) == ["x" + ".x" * 4999]
    assert nul_fields({"a": ["b", "c"], "d": {"e": 1.5, "f": None}}) == []
