"""Health, readiness and the OpenAPI document."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec

from intentcast.store.db import ping

READY_TIMEOUT_S = 2.0


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str
    postgres: str
    redis: str


async def _check(probe: Any) -> str:
    try:
        await asyncio.wait_for(probe, READY_TIMEOUT_S)
    except Exception as exc:  # any failure means "not ready", with the reason
        return f"error: {type(exc).__name__}"
    return "ok"


class MetaController(Controller):
    tags = ["meta"]

    @get("/health", operation_id="health", summary="Liveness", exclude_from_auth=True)
    async def health(self) -> Health:
        """Always `{"status": "ok"}` while the process serves requests; no token, no
        dependency checked (see `/ready`)."""
        return Health(status="ok")

    @get(
        "/ready",
        operation_id="ready",
        summary="Readiness: PostgreSQL and Redis reachable",
        responses={
            503: ResponseSpec(
                data_container=Readiness,
                description="PostgreSQL or Redis did not answer within 2 s: `status` is "
                "`unavailable` and the failing one says `error: <exception>`.",
                generate_examples=False,
            )
        },
    )
    async def ready(self, state: State) -> Response[Readiness]:
        """200 when PostgreSQL and Redis each answer a ping within 2 s, else 503 with
        which one failed. No token needed; for load balancers and orchestrators."""
        postgres = await _check(ping(state.pool))
        redis = await _check(state.redis.ping())
        ok = postgres == "ok" and redis == "ok"
        return Response(
            Readiness(status="ok" if ok else "unavailable", postgres=postgres, redis=redis),
            status_code=200 if ok else 503,
        )

    @get(
        "/openapi.json",
        operation_id="openapi",
        summary="This API's OpenAPI 3.1 document",
        include_in_schema=False,
    )
    async def openapi(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        return Response(
            openapi_document(request.app), media_type="application/vnd.oai.openapi+json"
        )


def openapi_document(app: Any) -> bytes:
    """The OpenAPI document as committed to ``openapi/openapi.json``: stable key order."""
    schema = app.openapi_schema.to_schema()
    return msgspec.json.format(msgspec.json.encode(schema, order="sorted"), indent=2) + b"\n"
