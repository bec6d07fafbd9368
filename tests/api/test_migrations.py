"""Migrations: ordered, recorded, idempotent, and safe when processes race."""

from __future__ import annotations

import asyncio

import asyncpg

from intentcast.store.migrate import apply_migrations, migration_files
from tests.helpers import with_database


async def test_fresh_database_gets_every_migration_once(servers) -> None:
    admin = await asyncpg.connect(servers.postgres_url)
    name = "ic_migrate_race"
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(servers.postgres_url, name)
    try:
        conns = [await asyncpg.connect(url) for _ in range(4)]
        results = await asyncio.gather(*(apply_migrations(c) for c in conns))
        expected = [v for v, _, _ in migration_files()]
        applied = sorted(v for result in results for v in result)
        assert applied == expected  # each file applied by exactly one racer
        assert await apply_migrations(conns[0]) == []  # twice is a no-op
        recorded = await conns[0].fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in recorded] == expected
        for conn in conns:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def test_migration_files_are_numbered_in_order() -> None:
    versions = [v for v, _, _ in migration_files()]
    assert versions == sorted(versions) and versions[0] == 1
    assert len(set(versions)) == len(versions)
