"""Round-trip counters for ``bench/http.py --count-roundtrips``: which PostgreSQL statements and
Redis commands each server process sends, counted per process.

Python imports ``sitecustomize`` at start-up from the first ``sys.path`` entry that has one;
``bench/http.py`` puts this folder first on the server's ``PYTHONPATH`` and sets
``BENCH_ROUNDTRIPS_DIR`` only for the counting run (without it this module does nothing).
Every 0.2 s a daemon thread writes ``<dir>/<pid>.json``: ``{"pg": {statement: n}, "redis":
{command: n}}``, so the benchmark reads deltas around a wrk run of known request count.

What counts as one round trip:

- asyncpg: ``Connection.execute`` without arguments (a simple query: ``BEGIN``, ``COMMIT``,
  ...), and every ``Connection._execute`` / ``_executemany`` (``fetch``, ``fetchrow``,
  ``fetchval``, ``execute`` with arguments, ``executemany``) and ``copy_*`` call. A prepared
  statement cache miss adds a Parse round trip that is not counted (the cache is warm after
  the warm-up run); the pool's reset on release is skipped by intentcast (``reset=``).
- redis.asyncio: every ``Redis.execute_command`` (one command), every ``Pipeline.execute``
  (one round trip, however many commands; counted under ``PIPELINE(cmd,cmd,...)``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from typing import Any

OUT_DIR = os.environ.get("BENCH_ROUNDTRIPS_DIR", "")
_pg: Counter[str] = Counter()
_redis: Counter[str] = Counter()


def _statement_key(query: Any) -> str:
    text = " ".join(str(query).split())
    return text[:120]


def _install() -> None:
    try:
        import asyncpg.connection
        import redis.asyncio.client
    except ImportError:
        return
    connection = asyncpg.connection.Connection
    original_execute = connection.execute
    original_private_execute = connection._execute
    original_executemany = connection._executemany

    async def execute(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if not args:
            _pg[_statement_key(query)] += 1
        return await original_execute(self, query, *args, **kwargs)

    async def private_execute(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        _pg[_statement_key(query)] += 1
        return await original_private_execute(self, query, *args, **kwargs)

    async def private_executemany(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        _pg["(executemany) " + _statement_key(query)] += 1
        return await original_executemany(self, query, *args, **kwargs)

    connection.execute = execute
    connection._execute = private_execute
    connection._executemany = private_executemany
    for name in ("copy_records_to_table", "copy_to_table", "copy_from_table", "copy_from_query"):
        original = getattr(connection, name)

        def copy(self: Any, *args: Any, _original: Any = original, _name: str = name, **kw: Any):
            _pg[f"({_name})"] += 1
            return _original(self, *args, **kw)

        setattr(connection, name, copy)

    client = redis.asyncio.client
    original_command = client.Redis.execute_command
    original_pipeline = client.Pipeline.execute

    async def execute_command(self: Any, *args: Any, **options: Any) -> Any:
        _redis[str(args[0]).upper() if args else "?"] += 1
        return await original_command(self, *args, **options)

    async def pipeline_execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        names = ",".join(str(c[0][0]).upper() for c in getattr(self, "command_stack", []))
        _redis[f"PIPELINE({names})"] += 1
        return await original_pipeline(self, *args, **kwargs)

    client.Redis.execute_command = execute_command
    client.Pipeline.execute = pipeline_execute


def _dump_forever() -> None:
    while True:
        time.sleep(0.2)
        path = os.path.join(OUT_DIR, f"{os.getpid()}.json")
        data = json.dumps({"pg": dict(_pg), "redis": dict(_redis)})
        with open(path + ".tmp", "w") as out:
            out.write(data)
        os.replace(path + ".tmp", path)


def _start_dumping() -> None:
    threading.Thread(target=_dump_forever, name="bench-roundtrips", daemon=True).start()


def _after_fork() -> None:
    _pg.clear()
    _redis.clear()
    _start_dumping()


if OUT_DIR:
    _install()
    _start_dumping()
    os.register_at_fork(after_in_child=_after_fork)
