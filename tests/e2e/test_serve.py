"""``intentcast serve`` as a real process: ready within 15 s, data survives restarts, and
stopping it — politely or with ``kill -9`` — leaves no process and no stale lock behind."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import READY_WITHIN_S, Server, assert_all_gone, embedded_env, free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(make_server) -> Server:
    return make_server()


def test_serve_is_ready_fast_keeps_data_and_stops_cleanly(server: Server) -> None:
    elapsed = server.start()
    assert elapsed < READY_WITHIN_S
    first_output = server.log.read_text()
    assert f"serving on {server.url}" in first_output
    web = server.url.replace("127.0.0.1", "localhost") + "/"  # passkeys need a host name
    assert f"web pages: {web}" in first_output
    assert "operator token (shown once, keep it): ico_" in first_output
    tree = server.tree()
    names = {p.name() for p in tree}
    assert "postgres" in names and "redis-server" in names

    signup = httpx.post(server.url + "/v1/buyers", json={"display_name": "ada", "email": "a@b.org"})
    assert signup.status_code == 201
    token = signup.json()["token"]
    assert_all_gone(server.stop(signal.SIGTERM))

    server.log.write_text("")
    server.start()
    me = httpx.get(server.url + "/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["email"] == "a@b.org"
    assert "operator token" not in server.log.read_text()  # only on the first start
    assert (server.data_dir / "secret.key").stat().st_mode & 0o777 == 0o600


def test_kill_9_leaves_no_orphans_and_no_stale_lock(server: Server) -> None:
    server.start()
    tree = server.stop(signal.SIGKILL)
    assert_all_gone(tree)
    server.start()  # the next start is not blocked by anything the killed one left
    assert httpx.get(server.url + "/health").json() == {"status": "ok"}
    assert_all_gone(server.stop(signal.SIGINT))


def test_operator_cli_and_migrate_work_beside_a_running_server(server: Server) -> None:
    server.start()
    env = embedded_env(server.data_dir, server.port)
    cli = [sys.executable, "-m", "intentcast"]
    created = subprocess.run(
        [*cli, "operator", "create-token"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("ico_")
    me = httpx.get(server.url + "/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["role"] == "operator"
    migrated = subprocess.run(
        [*cli, "migrate"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert "up to date" in migrated.stdout


def test_second_serve_on_same_data_dir_refuses_clearly(server: Server, tmp_path: Path) -> None:
    server.start()
    other = subprocess.run(
        [sys.executable, "-m", "intentcast", "serve"],
        env=embedded_env(server.data_dir, free_port()),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert other.returncode != 0
    assert "owns the data dir" in other.stderr + other.stdout
    assert "Traceback" not in other.stderr
    assert httpx.get(server.url + "/ready").status_code == 200  # the first one is unharmed


def test_cli_rejects_malformed_configuration(tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "d", 1)
    env["INTENTCAST_PORT"] = "eighty"
    result = subprocess.run(
        [sys.executable, "-m", "intentcast", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "INTENTCAST_PORT" in result.stderr
    env["INTENTCAST_PORT"] = "8000"
    env["INTENTCAST_COLOUR"] = "blue"
    result = subprocess.run(
        [sys.executable, "-m", "intentcast", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0 and "INTENTCAST_COLOUR" in result.stderr
