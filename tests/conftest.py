"""Test harness: one real PostgreSQL and Redis per session (embedded, or the servers named
by INTENTCAST_DATABASE_URL / INTENTCAST_REDIS_URL), a fresh database per test cloned from a
migrated template, Redis flushed per test, and an AsyncTestClient on the real app."""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as redis
from hypothesis import settings as hypothesis_settings
from litestar.testing import AsyncTestClient

from intentcast.config import Settings, load_settings
from intentcast.security import generate_key_text
from intentcast.store.bootstrap import prepare_database
from tests.helpers import Account, create_buyer, create_operator, create_vendor, with_database

warnings.filterwarnings("ignore", module="platformdirs")

# Property tests are reproducible by default: the same examples on every run, so a CI run
# fails only for a change, never for the luck of the draw. HYPOTHESIS_PROFILE=explore draws
# fresh examples (and keeps what it finds in .hypothesis/) for hunting new bugs.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@dataclass(frozen=True)
class Servers:
    postgres_url: str
    redis_url: str


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    db_url = os.environ.get("INTENTCAST_DATABASE_URL")
    redis_url = os.environ.get("INTENTCAST_REDIS_URL")
    if db_url and redis_url:
        yield Servers(db_url, redis_url)
        return
    from intentcast.embedded import EmbeddedServices

    services = EmbeddedServices(tmp_path_factory.mktemp("servers"), durable=False)
    services.start()
    try:
        yield Servers(db_url or services.postgres.url, redis_url or services.redis.url)
    finally:
        services.stop()


@pytest.fixture(scope="session")
async def template_database(servers: Servers) -> AsyncIterator[str]:
    name = f"ic_template_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(servers.postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        conn = await asyncpg.connect(with_database(servers.postgres_url, name))
        try:
            await prepare_database(conn)
        finally:
            await conn.close()
        yield name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


_counter = itertools.count()


@pytest.fixture
async def database_url(servers: Servers, template_database: str) -> AsyncIterator[str]:
    name = f"ic_test_{os.getpid()}_{next(_counter)}"
    admin = await asyncpg.connect(servers.postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
        yield with_database(servers.postgres_url, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def redis_url(servers: Servers) -> AsyncIterator[str]:
    client = redis.from_url(servers.redis_url)
    await client.flushdb()
    await client.aclose()
    yield servers.redis_url


@pytest.fixture
def make_settings(database_url: str, redis_url: str, tmp_path: Path) -> Callable[..., Settings]:
    key = generate_key_text()

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "redis_url": redis_url,
            "secret_key": key,
            "data_dir": str(tmp_path / "data"),
            "webhook_allow_loopback": True,
            # k-anonymity off: tests publish lone intents and expect them exactly as sent;
            # tests/api/test_kanon.py and tests/e2e/test_kanon.py turn it on (the product
            # default stays 3)
            "k_anonymity": 1,
        }
        values.update(overrides)
        return load_settings({}, **values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the test database, for asserting what is stored."""
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


def _answer_off_the_loop(client: AsyncTestClient[Any]) -> None:
    """Litestar's test transport answers an async request by blocking the caller's thread
    until the app (on its own portal thread) has answered: the test's event loop — and the
    workers ``make_pipeline`` runs on it — would stand still meanwhile, so a request that
    waits for a lock a worker holds (a vendor's event log) would wait forever. The blocking
    call runs in a thread instead; the loop goes on."""
    transport = client._transport
    blocking = transport.handle_request

    async def handle_async_request(request: httpx.Request) -> httpx.Response:
        return await asyncio.to_thread(blocking, request)

    transport.handle_async_request = handle_async_request


@pytest.fixture
async def make_client(settings: Settings) -> AsyncIterator[Callable[..., Any]]:
    from intentcast.api.app import create_app

    opened: list[AsyncTestClient[Any]] = []

    async def make(custom: Settings | None = None) -> AsyncTestClient[Any]:
        client = AsyncTestClient(app=create_app(custom or settings))
        _answer_off_the_loop(client)
        await client.__aenter__()
        opened.append(client)
        return client

    yield make
    for client in reversed(opened):
        await client.__aexit__(None, None, None)


@pytest.fixture
async def client(make_client: Callable[..., Any]) -> AsyncTestClient[Any]:
    return await make_client()


@pytest.fixture
async def buyer(client: AsyncTestClient[Any]) -> Account:
    return await create_buyer(
        client,
        email="ada@example.org",
        phone="+49 89 4132 7788",
        name="Ada Lovelace",
        address="Marienplatz 1, 80331 München",
        country="DE",
    )


@pytest.fixture
async def vendor(client: AsyncTestClient[Any], db: asyncpg.Connection) -> Account:
    return await create_vendor(client, db, verified=True)


@pytest.fixture
async def operator(db: asyncpg.Connection) -> Account:
    return await create_operator(db)


@pytest.fixture
async def make_pipeline(settings: Settings) -> AsyncIterator[Callable[..., Any]]:
    """Start worker roles (all of them unless ``roles``) in this event loop against the test
    database and Redis, with ``custom`` settings if given; other keyword arguments go to
    ``WorkerContext`` (the workers' timings). Stopped at teardown, failing the test if a
    worker crashed."""
    from intentcast.store.db import create_pool
    from intentcast.workers import ROLES, WorkerContext

    started: list[tuple[Any, asyncpg.Pool, dict[str, asyncio.Task[None]]]] = []

    async def make(
        roles: Iterable[str] | None = None, custom: Settings | None = None, **timings: Any
    ) -> dict[str, Any]:
        chosen = custom or settings
        pool = await create_pool(chosen.database_url or "", max_size=8)
        ctx = WorkerContext(chosen, pool, redis.from_url(chosen.redis_url or ""), **timings)
        tasks = {role: asyncio.create_task(ROLES[role](ctx), name=role) for role in roles or ROLES}
        started.append((ctx, pool, tasks))
        return {"ctx": ctx, "tasks": tasks}

    yield make
    for ctx, pool, tasks in reversed(started):
        ctx.stopping.set()
        results = await asyncio.gather(*tasks.values(), return_exceptions=True)
        await pool.close()
        await ctx.redis.aclose()
        for role, result in zip(tasks, results, strict=True):
            assert not isinstance(result, BaseException), f"{role} worker failed: {result!r}"


@pytest.fixture
async def pipeline(make_pipeline: Callable[..., Any]) -> dict[str, Any]:
    """Every worker role running in this event loop, with production timings."""
    return await make_pipeline()
