"""``intentcast serve``: the API and every worker role in one process tree.

The supervisor owns the embedded PostgreSQL and Redis (when no URLs are configured), applies
migrations, then runs the API (granian) and one process per worker role as children. Children
that crash are restarted with backoff. SIGINT/SIGTERM stop the children first, then Redis and
PostgreSQL. Every child carries a parent-death signal, so ``kill -9`` of the supervisor still
takes the whole tree down and the next start finds no stale lock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from intentcast.config import Settings
from intentcast.embedded import EmbeddedServices, die_with_parent
from intentcast.logs import announce
from intentcast.security import child_key_settings
from intentcast.store.accounts import Operators
from intentcast.store.bootstrap import prepare_database
from intentcast.store.db import connect

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0
STOP_TIMEOUT_S = 15.0


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = field(default=0.0)


class Supervisor:
    def __init__(self, settings: Settings, roles: list[str]) -> None:
        self.settings = settings
        self.roles = roles
        self.services: EmbeddedServices | None = None
        self.children: list[Child] = []
        self._stopping = False
        self.metrics_dir = settings.data_path / "metrics"

    def _child_env(self, database_url: str, redis_url: str, key: dict[str, str]) -> dict[str, str]:
        """The children's environment. The URLs carry the servers' passwords (the embedded
        ones' too), so they travel only here: /proc/<pid>/environ is readable by our uid alone,
        unlike a command line, and nothing prints them."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTENTCAST_")}
        env.update(self.settings.env())
        env.update(INTENTCAST_DATABASE_URL=database_url, INTENTCAST_REDIS_URL=redis_url, **key)
        # every child counts into its own files here (emptied: the previous run's counts are
        # gone); the API's /metrics merges them, and no worker opens a port of its own.
        # Imported here, not at the top: prometheus_client picks its storage when first
        # imported, and `intentcast api` (which imports this module with the CLI) must set
        # the directory before that, for the granian workers it forks.
        from intentcast.metrics import MULTIPROC_ENV, fresh_multiprocess_dir

        env[MULTIPROC_ENV] = str(fresh_multiprocess_dir(self.metrics_dir))
        env.pop("INTENTCAST_METRICS_PORT", None)
        return env

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            database_url, redis_url = self._service_urls()
            operator_token = asyncio.run(_prepare_database(database_url))
            env = self._child_env(database_url, redis_url, child_key_settings(self.settings))
            exe = [sys.executable, "-m", "intentcast"]
            self.children = [Child("api", [*exe, "api", "--no-migrate"])]
            self.children += [
                Child(f"worker:{r}", [*exe, "worker", "--role", r]) for r in self.roles
            ]
            for child in self.children:
                self._start(child, env)
            url = f"http://{self.settings.host}:{self.settings.port}"
            announce(
                self.settings,
                f"intentcast {_version()} serving on {url}",
                "intentcast serving",
                version=_version(),
                url=url,
            )
            web_url = web_address(self.settings)
            announce(self.settings, f"web pages: {web_url}", "web pages", url=web_url)
            if self.services is not None:
                announce(
                    self.settings,
                    f"data dir: {self.settings.data_path}",
                    "embedded data dir",
                    data_dir=str(self.settings.data_path),
                )
            if operator_token:
                self._show_operator_token(operator_token)
            self._supervise(env)
            return 0
        finally:
            self._stop_children()
            if self.services is not None:
                self.services.stop()
            announce(self.settings, "intentcast stopped")

    def _service_urls(self) -> tuple[str, str]:
        """The configured PostgreSQL and Redis URLs; for those unset, the embedded servers'
        (started here, stopped by ``run``)."""
        database_url, redis_url = self.settings.database_url, self.settings.redis_url
        if self.settings.embedded:
            self.services = EmbeddedServices(self.settings.data_path)
            self.services.start()
            database_url = database_url or self.services.postgres.url
            redis_url = redis_url or self.services.redis.url
        if not (database_url and redis_url):  # `embedded` is true whenever one is unset
            raise RuntimeError("no PostgreSQL or Redis URL to serve with")
        return database_url, redis_url

    def _show_operator_token(self, token: str) -> None:
        """The first operator's token, once: on standard output in text mode. JSON lines go
        to log collectors, which must never see a token: there it goes to a file only its
        owner can read, and the log says where."""
        if self.settings.log_format != "json":
            print(f"operator token (shown once, keep it): {token}", flush=True)
            return
        path = self.settings.data_path / "operator-token"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(token + "\n")
        log.warning(
            "operator token written to %s (shown once: keep it, then delete the file)",
            path,
            extra={"operator_token_file": str(path)},
        )

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._stopping = True

    def _start(self, child: Child, env: dict[str, str]) -> None:
        child.process = subprocess.Popen(
            child.argv,
            env=env,
            stdin=subprocess.DEVNULL,
            preexec_fn=lambda: die_with_parent(signal.SIGTERM),
        )
        child.started_at = time.monotonic()

    def _supervise(self, env: dict[str, str]) -> None:
        while not self._stopping:
            now = time.monotonic()
            for child in self.children:
                if child.process is None:  # every child is started before supervising
                    raise RuntimeError(f"{child.name} was never started")
                code = child.process.poll()
                if code is None or self._stopping:
                    continue
                if child.next_start == 0.0:
                    # a child that ran for a while before dying starts over with short backoff
                    if now - child.started_at > 60:
                        child.restarts = 0
                    delay = min(MAX_BACKOFF_S, 0.5 * 2**child.restarts)
                    child.next_start = now + delay
                    _process_exited(child.process.pid, self.metrics_dir)
                    log.error("%s exited with %s; restarting in %.1fs", child.name, code, delay)
                    if self.settings.log_format != "json":  # the log line says it in JSON
                        print(
                            f"{child.name} exited with {code}; restarting in {delay:.1f}s",
                            flush=True,
                        )
                elif now >= child.next_start:
                    child.restarts += 1
                    child.next_start = 0.0
                    self._start(child, env)
            time.sleep(0.2)

    def _stop_children(self) -> None:
        running = [c.process for c in self.children if c.process and c.process.poll() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _process_exited(pid: int, metrics_dir: Path) -> None:
    from intentcast.metrics import process_exited  # see _child_env

    process_exited(pid, metrics_dir)


def web_address(settings: Settings) -> str:
    """Where a person opens the web pages: ``INTENTCAST_PUBLIC_URL`` when set; on a
    loopback address ``localhost`` (passkeys need a host name, never an IP address)."""
    if settings.public_url:
        return settings.public_url.rstrip("/") + "/"
    host = settings.host
    if host in ("127.0.0.1", "::1", "0.0.0.0", "::"):  # noqa: S104 (naming, not binding)
        host = "localhost"
    return f"http://{host}:{settings.port}/"


def _version() -> str:
    from intentcast import __version__

    return __version__


async def _prepare_database(database_url: str) -> str | None:
    """Migrate; on the very first start create an operator and return its token."""
    async with connect(database_url) as conn:
        await prepare_database(conn)
        return await Operators(conn).create_first()
