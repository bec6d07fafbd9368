"""The bare reference app of ``bench/http.py``: what Litestar + msgspec on granian cost alone.

    .venv/bin/python bench/http_reference/reference_app.py --port 8100 --workers 1 --database-url postgresql://...

Two routes, no middleware, no auth, served by granian with the same interface and worker
count as ``intentcast serve``'s API:

- ``GET /item`` returns a small msgspec Struct (the ceiling for ``GET /v1/intents/{id}``);
- ``GET /rows/{id}`` reads one row by primary key with one asyncpg ``SELECT`` (the same
  shape of work as ``GET /v1/intents/{id}`` without authentication: one pool checkout, one
  round trip, encode) — what a single database round trip costs on top of ``GET /item``;
- ``POST /rows`` decodes the same JSON body as ``POST /v1/intents`` into a Struct and does
  one raw asyncpg single-row ``INSERT`` into ``bench_reference_rows`` on the benchmark's
  PostgreSQL (the ceiling for publishing: decode, one round trip, encode).

Each granian worker opens its own asyncpg pool (size 10, intentcast's default
``db_pool_size``) at startup. ``bench/http.py`` creates the table before starting this app.
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import asyncpg
import msgspec
from litestar import Litestar, get, post
from litestar.exceptions import NotFoundException

DATABASE_URL_ENV = "BENCH_REFERENCE_DATABASE_URL"
POOL_SIZE = 10

CREATE_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS bench_reference_rows (
    id text PRIMARY KEY,
    category text NOT NULL,
    title text NOT NULL,
    body jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)"""
READ_ROWS = [f"read-{n:02d}" for n in range(64)]
"""Rows ``bench/http.py`` inserts with the table, for ``GET /rows/{id}``."""
SELECT_ROW_SQL = "SELECT id, category, title, created_at FROM bench_reference_rows WHERE id = $1"
INSERT_ROW_SQL = (
    "INSERT INTO bench_reference_rows (id, category, title, body) VALUES ($1, $2, $3, $4)"
)


class Item(msgspec.Struct):
    id: str
    title: str
    status: str
    price: int
    tags: list[str]


class Budget(msgspec.Struct, forbid_unknown_fields=True):
    max: str
    currency: str


class Location(msgspec.Struct, forbid_unknown_fields=True):
    lat: float
    lng: float
    precision: int = 7
    country: str | None = None


class RowDraft(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The fields ``bench/http.py`` sends in an intent body."""

    category: str
    title: str
    description: str | None = None
    budget: Budget | None = None
    location: Location | None = None
    fulfilment: list[str] = msgspec.field(default_factory=list)


class RowCreated(msgspec.Struct):
    id: str


class Row(msgspec.Struct):
    id: str
    category: str
    title: str
    created_at: datetime


ITEM = Item(id="it_0123456789", title="Used road bike", status="open", price=450, tags=["bike"])


@get("/item", sync_to_thread=False)
def read_item() -> Item:
    return ITEM


_pool: asyncpg.Pool | None = None


@post("/rows")
async def create_row(data: RowDraft) -> RowCreated:
    assert _pool is not None
    row_id = uuid.uuid4().hex
    async with _pool.acquire() as conn:
        await conn.execute(
            INSERT_ROW_SQL, row_id, data.category, data.title, msgspec.json.encode(data).decode()
        )
    return RowCreated(id=row_id)


@get("/rows/{row_id:str}")
async def read_row(row_id: str) -> Row:
    assert _pool is not None
    async with _pool.acquire() as conn:
        row = await conn.fetchrow(SELECT_ROW_SQL, row_id)
    if row is None:
        raise NotFoundException()
    return Row(row["id"], row["category"], row["title"], row["created_at"])


@asynccontextmanager
async def database_pool(_: Litestar) -> AsyncIterator[None]:
    global _pool
    _pool = await asyncpg.create_pool(
        os.environ[DATABASE_URL_ENV], min_size=POOL_SIZE, max_size=POOL_SIZE
    )
    try:
        yield
    finally:
        await _pool.close()
        _pool = None


def create_app() -> Litestar:
    return Litestar(route_handlers=[read_item, read_row, create_row], lifespan=[database_pool])


def main() -> None:
    from granian import Granian
    from granian.constants import Interfaces

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    os.environ[DATABASE_URL_ENV] = args.database_url
    Granian(
        target="reference_app:create_app",
        factory=True,
        interface=Interfaces.ASGI,
        address=args.host,
        port=args.port,
        workers=args.workers,
        working_dir=Path(__file__).resolve().parent,
        log_level="warning",
        log_access=False,
    ).serve()


if __name__ == "__main__":
    main()
