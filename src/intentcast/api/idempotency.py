"""``Idempotency-Key`` on POST: the same key and body replay the first response; the same
key with a different body is 422; a key still being processed is 409.

Keys are scoped to the caller's *account* (M1): the same key sent with a rotated token, or
with `bearer` spelled otherwise, is the same key, and no caller ever receives another
account's response. Anonymous requests (the two sign-ups) have no account to scope to, so
their `Idempotency-Key` is checked for shape and otherwise ignored: a replay would hand a
stranger who guessed the key and body the new account's token and persona. Only
successful (2xx) responses are kept, for 24 hours, sealed with the server key because a
response may carry a token shown once. A failed request releases its key so the client can
retry with it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from intentcast.api.errors import problem_body
from intentcast.store.accounts import Principal
from intentcast.store.idempotency import IdempotencyKeys

HEADER = b"idempotency-key"
MAX_KEY_LENGTH = 255


class _Stored(msgspec.Struct):
    status: int
    content_type: str
    location: str | None
    body: bytes


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def _send_problem(send: Send, status: int, code: str, detail: str, field: str) -> None:
    body = msgspec.json.encode(
        problem_body(
            status,
            code,
            detail,
            title="Idempotency-Key problem",
            errors=[{"field": field, "message": detail}],
        )
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class IdempotencyMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, max_body_bytes: int) -> None:
        self.max_body_bytes = max_body_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        key = _header(scope, HEADER)
        if scope["method"] != "POST" or key is None:
            await next_app(scope, receive, send)
            return
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            await _send_problem(
                send,
                400,
                "idempotency-key-invalid",
                "Idempotency-Key must be 1-255 printable characters.",
                "header.Idempotency-Key",
            )
            return
        principal = scope.get("user")
        if not isinstance(principal, Principal):  # anonymous: nothing to scope a replay to
            await next_app(scope, receive, send)
            return
        body, too_large = await self._read_body(receive)
        if too_large:
            await _send_problem(
                send,
                413,
                "payload-too-large",
                f"The request body exceeds {self.max_body_bytes} bytes.",
                "body",
            )
            return
        app_state: Any = scope["litestar_app"].state
        key_scope = f"{principal.role}:{principal.subject_id}"
        fingerprint = hashlib.sha256(
            scope["path"].encode() + b"\n" + scope.get("query_string", b"") + b"\n" + body
        ).digest()
        async with app_state.pool.acquire() as conn:
            stored = await IdempotencyKeys(conn).claim(key_scope, key, fingerprint)
            if stored is not None and stored.fingerprint != fingerprint:
                await _send_problem(
                    send,
                    422,
                    "idempotency-key-reused",
                    "This Idempotency-Key was used with a different request.",
                    "header.Idempotency-Key",
                )
                return
            if stored is not None and stored.status_code is not None and stored.response:
                await self._replay(
                    send, app_state.sealer.open(stored.response, context=key_scope + key)
                )
                return
            if stored is not None and not stored.stale_claim:
                await _send_problem(
                    send,
                    409,
                    "idempotency-key-in-progress",
                    "A request with this Idempotency-Key is still being processed.",
                    "header.Idempotency-Key",
                )
                return
            if stored is not None:
                await IdempotencyKeys(conn).retake(key_scope, key)

        captured: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        delivered = False

        async def replay_body() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        try:
            await next_app(scope, replay_body, capture)
        finally:
            async with app_state.pool.acquire() as conn:
                repo = IdempotencyKeys(conn)
                if 200 <= captured["status"] < 300:
                    headers = {k.lower(): v.decode("latin-1") for k, v in captured["headers"]}
                    record = _Stored(
                        status=captured["status"],
                        content_type=headers.get(b"content-type".decode(), "application/json"),
                        location=headers.get("location"),
                        body=captured["body"],
                    )
                    sealed = app_state.sealer.seal(
                        msgspec.json.encode(record).decode(), context=key_scope + key
                    )
                    await repo.complete(key_scope, key, captured["status"], sealed)
                else:
                    await repo.release(key_scope, key)

    async def _read_body(self, receive: Receive) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return b"", True
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks), False

    async def _replay(self, send: Send, sealed_json: str) -> None:
        record = msgspec.json.decode(sealed_json, type=_Stored)
        headers = [
            (b"content-type", record.content_type.encode()),
            (b"content-length", str(len(record.body)).encode()),
            (b"idempotent-replayed", b"true"),
        ]
        if record.location:
            headers.append((b"location", record.location.encode()))
        await send({"type": "http.response.start", "status": record.status, "headers": headers})
        await send({"type": "http.response.body", "body": record.body})
