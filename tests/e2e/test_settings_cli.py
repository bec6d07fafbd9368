"""Runtime settings against a real ``intentcast serve`` (two API worker processes and every
worker role): ``intentcast operator settings set`` changes what every running process does
within seconds, without a restart, and ``--reset`` puts the environment's value back."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from typing import Any

import asyncpg
import httpx

from intentcast.services.runtime_settings import POLL_S
from tests.e2e.conftest import embedded_env
from tests.helpers import wait_for

FOLLOW_WITHIN_S = POLL_S + 5.0
OPERATOR_USER = {"USER": "ops-bob", "LOGNAME": "ops-bob"}
"""The operating-system user the CLI's audit entries name."""
SIGNUPS_PER_CHECK = 6
"""Sign-ups in a row that must all agree: with two API processes, each serves some."""


def intentcast(server: Any, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI, configured as the running server is (same data dir)."""
    return subprocess.run(
        [sys.executable, "-m", "intentcast", *args],
        env=embedded_env(server.data_dir, server.port) | OPERATOR_USER,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


_names = itertools.count(1)


def _intentcast_processes(server: Any) -> set[int]:
    """The server's own processes (API and workers), without PostgreSQL's per-connection
    backends or Redis."""
    return {
        p.pid for p in server.tree() if not any(name in p.name() for name in ("postgres", "redis"))
    }


async def _signup_statuses(http: httpx.AsyncClient, count: int) -> set[str]:
    statuses = set()
    for _ in range(count):
        response = await http.post("/v1/vendors", json={"name": f"Shop {next(_names)} GmbH"})
        assert response.status_code == 201, response.text
        statuses.add(response.json()["vendor"]["status"])
    return statuses


async def test_cli_auto_verify_reaches_every_api_process_without_a_restart(make_server):
    server = make_server(web_workers="2")
    server.start()
    processes_before = _intentcast_processes(server)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        assert await _signup_statuses(http, SIGNUPS_PER_CHECK) == {"pending"}

        changed = intentcast(server, "operator", "settings", "set", "auto_verify_vendors=true")
        assert changed.returncode == 0, changed.stderr
        # the table's columns are as wide as the longest setting name
        assert re.search(r"auto_verify_vendors +true +operator \(cli:ops-bob", changed.stdout)

        async def all_verified() -> bool:
            return await _signup_statuses(http, SIGNUPS_PER_CHECK) == {"verified"}

        await wait_for(all_verified, within=FOLLOW_WITHIN_S, interval=0.1)

        shown = intentcast(server, "operator", "settings", "get", "--json")
        assert shown.returncode == 0, shown.stderr
        assert (
            '"source": "operator"' in shown.stdout and '"changed_by": "cli:ops-bob"' in shown.stdout
        )

        # read where the CLI wrote it (GET /v1/admin/audit is tested in tests/api/)
        conn = await asyncpg.connect(server.postgres_url)
        try:
            entries = await conn.fetch(
                "SELECT actor, target, details::text FROM audit_log WHERE action = $1",
                "settings.change",
            )
        finally:
            await conn.close()
        assert [(e["actor"], e["target"], json.loads(e["details"])) for e in entries] == [
            (
                "cli:ops-bob",
                "settings",
                {"old": {"auto_verify_vendors": False}, "new": {"auto_verify_vendors": True}},
            )
        ]

        reset = intentcast(server, "operator", "settings", "set", "--reset", "auto_verify_vendors")
        assert reset.returncode == 0, reset.stderr
        assert re.search(r"auto_verify_vendors +false +default", reset.stdout)

        async def all_pending() -> bool:
            return await _signup_statuses(http, SIGNUPS_PER_CHECK) == {"pending"}

        await wait_for(all_pending, within=FOLLOW_WITHIN_S, interval=0.1)

        refused = intentcast(server, "operator", "settings", "set", "location_floor=16")
        assert refused.returncode != 0 and "location_floor" in refused.stderr
    assert _intentcast_processes(server) == processes_before  # nothing was restarted
