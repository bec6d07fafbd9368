"""Token scopes without a server: the scope table covers every route (so a new route cannot
be forgotten), the vocabulary matches the API's schema, and the domain rules for minting a
scoped token."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from litestar.handlers import HTTPRouteHandler

from intentcast.api.app import create_app
from intentcast.api.scopes import REQUIRED_SCOPE, required_scope
from intentcast.config import load_settings
from intentcast.domain.errors import RuleViolation
from intentcast.domain.scopes import (
    OPEN_TO_ALL,
    SCOPES,
    allows,
    validate_expiry,
    validate_scopes,
)
from intentcast.services.token_cache import PrincipalCache
from intentcast.store.accounts import Principal
from tests.helpers import REPO_ROOT

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
TOKEN_ID = "tok_1"  # noqa: S105 (an id, not a secret)


def openapi_operation_ids() -> set[str]:
    document = json.loads((REPO_ROOT / "openapi" / "openapi.json").read_text())
    return {
        op["operationId"]
        for item in document["paths"].values()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    }


def app_api_operation_ids() -> set[str]:
    """The operation id of every HTTP route of the app outside the web pages."""
    settings = load_settings(
        {}, database_url="postgresql://unused", redis_url="redis://unused", secret_key="A" * 43
    )
    app = create_app(settings)
    found = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler) and isinstance(handler.operation_id, str):
                found.add(handler.operation_id)
    return found


def test_every_openapi_operation_declares_its_scope() -> None:
    missing = openapi_operation_ids() - REQUIRED_SCOPE.keys()
    assert not missing, f"add these to api/scopes.py REQUIRED_SCOPE: {sorted(missing)}"


def test_every_route_of_the_app_declares_its_scope() -> None:
    found = app_api_operation_ids()
    assert {"acceptOffer", "createBuyerToken", "adminStats"} <= found  # the walk sees routes
    missing = found - REQUIRED_SCOPE.keys()
    assert not missing, f"add these to api/scopes.py REQUIRED_SCOPE: {sorted(missing)}"


def test_the_table_names_no_route_that_is_gone_and_only_known_scopes() -> None:
    assert REQUIRED_SCOPE.keys() <= app_api_operation_ids() | {"openapi"}
    for operation_id, scope in REQUIRED_SCOPE.items():
        assert scope is None or scope == OPEN_TO_ALL or scope in SCOPES, operation_id


def test_no_scope_grants_identity_deals_data_rights_or_tokens() -> None:
    for operation_id in (
        "createReveal",
        "acceptOffer",
        "exportMe",
        "eraseMe",
        "createBuyerToken",
        "listBuyerTokens",
        "revokeBuyerToken",
        "getMe",
        "updateMe",
    ):
        assert required_scope(operation_id) is None, operation_id
        assert not allows(frozenset(SCOPES), required_scope(operation_id))


def test_an_unknown_operation_is_full_tokens_only() -> None:
    assert required_scope("somethingNew") is None
    assert required_scope(None) is None
    assert not allows(frozenset(SCOPES), required_scope("somethingNew"))
    assert allows(None, required_scope("somethingNew"))  # a full token: as its role allows


def test_allows() -> None:
    assert allows(frozenset({"intents:read"}), "intents:read")
    assert not allows(frozenset({"intents:read"}), "intents:write")
    assert allows(frozenset({"intents:read"}), OPEN_TO_ALL)
    assert allows(None, "intents:write")


def test_the_api_documents_every_scope() -> None:
    document = json.loads((REPO_ROOT / "openapi" / "openapi.json").read_text())
    described = document["components"]["schemas"]["BuyerTokenCreate"]["properties"]["scopes"]
    text = json.dumps(described)
    for scope in SCOPES:
        assert f"`{scope}`" in text, scope


def test_validate_scopes() -> None:
    assert validate_scopes(["intents:read", "intents:read"]) == frozenset({"intents:read"})
    with pytest.raises(RuleViolation) as unknown:
        validate_scopes(["intents:read", "reveals:write"])
    assert unknown.value.field == "scopes"
    assert "reveals:write" in str(unknown.value)
    with pytest.raises(RuleViolation) as empty:
        validate_scopes([])
    assert empty.value.field == "scopes"


@pytest.mark.parametrize(
    "expires_at",
    [
        NOW - timedelta(days=1),
        NOW,
        NOW + timedelta(seconds=30),
        NOW + timedelta(days=367),
        datetime(2026, 12, 1, 12, 0),  # naive
    ],
)
def test_validate_expiry_refuses(expires_at: datetime) -> None:
    with pytest.raises(RuleViolation) as refused:
        validate_expiry(expires_at, NOW)
    assert refused.value.field == "expires_at"


def test_validate_expiry_accepts() -> None:
    for ahead in (timedelta(minutes=2), timedelta(days=30), timedelta(days=365)):
        assert validate_expiry(NOW + ahead, NOW) == NOW + ahead


def test_principal_expired() -> None:
    lasting = Principal(role="buyer", subject_id="byr_1", token_id=TOKEN_ID)
    assert not lasting.expired(NOW)
    ending = Principal(role="buyer", subject_id="byr_1", token_id=TOKEN_ID, expires_at=NOW)
    assert ending.expired(NOW)
    assert not ending.expired(NOW - timedelta(seconds=1))


def test_the_principal_cache_never_answers_an_expired_token() -> None:
    cache = PrincipalCache(None, ttl_s=60.0)  # type: ignore[arg-type]  (no Redis needed)
    soon = datetime.now(UTC) + timedelta(milliseconds=200)
    principal = Principal(role="buyer", subject_id="byr_1", token_id=TOKEN_ID, expires_at=soon)
    cache.put("ic_b_token", principal, cache.generation)
    assert cache.get("ic_b_token") == principal
    time.sleep(0.3)
    assert cache.get("ic_b_token") is None  # well before the cache's own 60 s


async def test_a_stream_ends_when_its_token_expires() -> None:
    from intentcast.api.me import _until

    closed: list[bool] = []

    async def events():
        try:
            for i in range(3):
                yield i
        finally:
            closed.append(True)

    ahead = datetime.now(UTC) + timedelta(hours=1)
    assert [e async for e in _until(events(), ahead)] == [0, 1, 2]
    passed = datetime.now(UTC) - timedelta(seconds=1)
    assert [e async for e in _until(events(), passed)] == []
    assert closed == [True, True]  # the source (and its hub subscription) is closed
