"""What the property tests over the whole API share (``test_fuzz.py``,
``test_schemathesis.py``): the committed OpenAPI document, one of every resource to aim at,
the callers' credentials, and requests that always end.

Hypothesis runs synchronously, so those tests run it in a worker thread
(``asyncio.to_thread``) and call the app through ``AppCaller``: straight into the ASGI app,
on the event loop of the test client's portal where the app's lifespan (its pool) lives. A
response stream (Server-Sent Events) is cut once it has started, as a client that
disconnects would; the test client's own transport would wait for it forever.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote, unquote

import anyio
import asyncpg
import httpx

from intentcast.store.accounts import Operators
from tests.helpers import REPO_ROOT, Account, matched, publish, subscribe

OPENAPI_PATH = REPO_ROOT / "openapi" / "openapi.json"
PROBLEM = "application/problem+json"


def committed_openapi() -> dict[str, Any]:
    return json.loads(OPENAPI_PATH.read_text())


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    header_params: tuple[str, ...]
    has_body: bool

    @property
    def streams(self) -> bool:
        return self.path.endswith("/stream")


def operations(document: dict[str, Any]) -> list[Operation]:
    """Every operation of an OpenAPI document."""
    found = []
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            params = op.get("parameters", [])
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    operation_id=op.get("operationId", f"{method} {path}"),
                    path_params=tuple(p["name"] for p in params if p["in"] == "path"),
                    query_params=tuple(p["name"] for p in params if p["in"] == "query"),
                    header_params=tuple(p["name"] for p in params if p["in"] == "header"),
                    has_body="requestBody" in op,
                )
            )
    return found


@dataclass(frozen=True)
class Callers:
    """A buyer, a verified vendor, an operator, and nobody (no token)."""

    buyer: Account
    vendor: Account
    operator: str

    def headers(self, who: str) -> dict[str, str]:
        token = {
            "buyer": self.buyer.token,
            "vendor": self.vendor.token,
            "operator": self.operator,
        }.get(who)
        return {"Authorization": f"Bearer {token}"} if token else {}


WHO = ("buyer", "vendor", "operator", "anonymous")


async def operator_token(db: asyncpg.Connection) -> str:
    return await Operators(db).create_with_token("fuzz operator", "tests")


async def one_of_everything(client: Any, db: asyncpg.Connection, buyer: Account, vendor: Account):
    """An intent matched to ``vendor``, its offer, a thread with a message, a reveal, a
    subscription and a webhook: path ids that exist, by path parameter name. (Token ids are
    left out on purpose: a fuzzer revoking the callers' tokens would only test 401s.)"""
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
    reveal = await client.post(
        f"/v1/intents/{intent['id']}/reveals",
        json={"vendor_id": vendor.id, "fields": ["email"]},
        headers=buyer.headers,
    )
    assert reveal.status_code == 201, reveal.text
    hook = await client.post(
        "/v1/vendor/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=vendor.headers
    )
    assert hook.status_code == 201, hook.text
    return {
        "intent_id": intent["id"],
        "offer_id": made.json()["id"],
        "thread_id": thread.json()["id"],
        "message_id": message.json()["id"],
        "reveal_id": reveal.json()["id"],
        "subscription_id": (await subscribe(client, vendor))["id"],
        "webhook_id": hook.json()["id"],
        "vendor_id": vendor.id,
    }


class AppCaller:
    """Synchronous requests into the app of an entered ``AsyncTestClient``, for a worker
    thread; headers and bodies go as raw bytes, exactly as given."""

    def __init__(self, client: Any, timeout: float = 10.0) -> None:
        self.app = client.app
        self.portal = client.blocking_portal
        self.timeout = timeout

    def __call__(
        self,
        method: str,
        path: str,
        *,
        query: bytes = b"",
        headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes = b"",
    ) -> httpx.Response:
        return self.portal.call(self._call, method, path, query, headers or [], body)

    async def _call(
        self,
        method: str,
        path: str,
        query: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> httpx.Response:
        raw_path = path.encode("utf-8", "surrogateescape")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote(path),
            "raw_path": raw_path,
            "root_path": "",
            "query_string": query,
            "headers": [(b"host", b"testserver"), *headers],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "extensions": {},
        }
        started = anyio.Event()
        request_sent = False
        response: dict[str, Any] = {"body": bytearray()}

        async def receive() -> dict[str, Any]:
            nonlocal request_sent
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await started.wait()  # then hang up, which ends a stream
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                response["headers"] = list(message.get("headers", []))
                started.set()
            elif message["type"] == "http.response.body":
                response["body"] += message.get("body", b"")

        began = time.perf_counter()
        with anyio.fail_after(self.timeout):
            await self.app(scope, receive, send)
        took = timedelta(seconds=time.perf_counter() - began)
        target = quote(path, safe="/%") + (
            "?" + quote(query.decode("latin-1"), safe="=&%+") if query else ""
        )
        request = httpx.Request(method, "http://testserver" + target, content=body)
        answer = httpx.Response(
            response["status"],
            headers=response["headers"],
            content=bytes(response["body"]),
            request=request,
        )
        answer.elapsed = took
        return answer


SPARED = {("DELETE", "/v1/me", "buyer")}
"""(method, path, caller) never sent: an erased buyer would leave nothing but 401s to test."""


def roles_allowed(
    call: AppCaller, callers: Callers, all_operations: list[Operation]
) -> dict[str, list[str]]:
    """Which callers each operation accepts: those it does not refuse with 401/403 (asked
    with ids that do not exist, so that nothing changes)."""
    allowed: dict[str, list[str]] = {}
    for operation in all_operations:
        path = operation.path
        for name in operation.path_params:
            path = path.replace("{" + name + "}", "none")
        for who in WHO:
            if (operation.method, operation.path, who) in SPARED:
                continue
            headers = [(k.lower().encode(), v.encode()) for k, v in callers.headers(who).items()]
            if operation.streams:
                headers.append((b"last-event-id", b"x"))  # a 400 rather than a stream
            response = call(operation.method, path, headers=headers, body=b"{}")
            if response.status_code not in (401, 403):
                allowed.setdefault(operation.operation_id, []).append(who)
    return allowed


def statuses_with(
    call: AppCaller, token: str, all_operations: list[Operation]
) -> dict[str, tuple[int, str | None]]:
    """What each operation answers one token (status and problem ``code``), asked with ids
    that do not exist. Nothing is spared: use it for tokens that must be refused the
    destructive routes (a scoped token's ``DELETE /v1/me``)."""
    answers: dict[str, tuple[int, str | None]] = {}
    for operation in all_operations:
        path = operation.path
        for name in operation.path_params:
            path = path.replace("{" + name + "}", "none")
        headers = [(b"authorization", f"Bearer {token}".encode())]
        if operation.streams:
            headers.append((b"last-event-id", b"x"))  # a 400 rather than a stream
        response = call(operation.method, path, headers=headers, body=b"{}")
        code = None
        if response.headers.get("content-type", "").startswith(PROBLEM):
            code = response.json().get("code")
        answers[operation.operation_id] = (response.status_code, code)
    return answers
