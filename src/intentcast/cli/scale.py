"""``intentcast scale``: the scale-out layout on one machine (``make scale``).

One PostgreSQL and one Redis, the embedded ones in their own data dir (default
``.intentcast-scale``) unless ``INTENTCAST_DATABASE_URL`` / ``INTENTCAST_REDIS_URL`` are set;
one ``intentcast migrate``; then several ``intentcast api --no-migrate`` processes on
consecutive ports and several ``intentcast worker`` processes of every role against them —
the process layout of a multi-host deployment, to try and test it without one. Every
child's output is prefixed with its name (``api:8001 | …``, ``matcher-2 | …``).

The child handling is ``intentcast serve``'s (``supervisor.Supervisor``): a crashed child is
restarted with backoff, each carries a parent-death signal, and SIGINT/SIGTERM stop the
children first, then Redis, then PostgreSQL. Workers get the key file's path, never the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import click

from intentcast.cli.common import command_settings
from intentcast.config import Settings
from intentcast.embedded import die_with_parent
from intentcast.security import child_key_settings
from intentcast.supervisor import Child, Supervisor

DEFAULT_DATA_DIR = ".intentcast-scale"
MAX_PROCESSES_PER_KIND = 16
_OWN_NAME = "scale"


class ScaleError(RuntimeError):
    """The layout cannot start (a port is taken, the migration failed)."""


class ScaleOut(Supervisor):
    """``api_ports`` API processes and ``workers_per_role`` workers of each role, supervised
    like ``intentcast serve``'s children, with their output prefixed by name."""

    def __init__(self, settings: Settings, *, api_ports: list[int], workers_per_role: int) -> None:
        from intentcast.workers import ROLES

        super().__init__(settings, sorted(ROLES))
        self.api_ports = api_ports
        self.workers_per_role = workers_per_role
        self._output_lock = threading.Lock()
        self._copiers: list[threading.Thread] = []
        names = [child.name for child in self.plan()]
        self._name_width = max(len(name) for name in [*names, "migrate", _OWN_NAME])

    def plan(self) -> list[Child]:
        """The children, API processes first."""
        exe = [sys.executable, "-m", "intentcast"]
        children = [
            Child(f"api:{port}", [*exe, "api", "--no-migrate", "--port", str(port)])
            for port in self.api_ports
        ]
        children += [
            Child(f"{role}-{n}", [*exe, "worker", "--role", role])
            for role in self.roles
            for n in range(1, self.workers_per_role + 1)
        ]
        return children

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            for port in self.api_ports:
                _check_port_free(self.settings.host, port)
            try:
                key = child_key_settings(self.settings)
            except ValueError as exc:  # external servers and no INTENTCAST_SECRET_KEY
                raise ScaleError(str(exc)) from None
            database_url, redis_url = self._service_urls()
            env = self._child_env(database_url, redis_url, key)
            self._migrate(env)
            operator_token = asyncio.run(_first_operator(database_url))
            self.children = self.plan()
            for child in self.children:
                self._start(child, env)
            self._announce(operator_token)
            self._supervise(env)
            return 0
        finally:
            self._stop_children()
            for copier in self._copiers:
                copier.join(timeout=2)
            if self.services is not None:
                self.services.stop()
            if self.children:
                self._say("stopped")

    def _migrate(self, env: dict[str, str]) -> None:
        """One ``intentcast migrate`` before any API process starts (they run ``--no-migrate``)."""
        process = subprocess.Popen(
            [sys.executable, "-m", "intentcast", "migrate"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: die_with_parent(signal.SIGTERM),
        )
        self._copy_output("migrate", process)
        code = process.wait()
        if code != 0:
            raise ScaleError(f"intentcast migrate exited with {code}")

    def _start(self, child: Child, env: dict[str, str]) -> None:
        # Supervisor._start, with the output through a pipe to be prefixed
        child.process = subprocess.Popen(
            child.argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: die_with_parent(signal.SIGTERM),
        )
        child.started_at = time.monotonic()
        self._copy_output(child.name, child.process)

    def _copy_output(self, name: str, process: subprocess.Popen[bytes]) -> None:
        if process.stdout is None:  # stdout=PIPE always gives one
            raise ScaleError(f"{name} has no output pipe")
        prefix = f"{name:<{self._name_width}} | ".encode()
        copier = threading.Thread(
            target=self._copy_lines, args=(prefix, process.stdout), name=f"output:{name}"
        )
        copier.daemon = True  # never keeps us alive: a grandchild may hold the pipe open
        copier.start()
        self._copiers = [c for c in self._copiers if c.is_alive()] + [copier]

    def _copy_lines(self, prefix: bytes, stream: IO[bytes]) -> None:
        """Copy ``stream`` line by line to our stdout behind ``prefix``, to its end. A closed
        stdout (``make scale | head``) does not stop the reading: a child whose pipe fills
        up would block."""
        with stream:
            for line in iter(stream.readline, b""):
                with self._output_lock, contextlib.suppress(OSError, ValueError):
                    sys.stdout.buffer.write(prefix + line)
                    sys.stdout.buffer.flush()

    def _say(self, text: str) -> None:
        line = f"{_OWN_NAME:<{self._name_width}} | {text}\n".encode()
        with self._output_lock, contextlib.suppress(OSError, ValueError):
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()

    def _announce(self, operator_token: str | None) -> None:
        from intentcast import __version__

        urls = " ".join(f"http://{self.settings.host}:{port}" for port in self.api_ports)
        roles = ", ".join(self.roles)
        self._say(f"intentcast {__version__} scale-out: API on {urls}")
        self._say(f"{self.workers_per_role} worker(s) of each role: {roles}")
        if self.services is not None:
            data_dir = self.settings.data_path
            self._say(f"data dir: {data_dir} (INTENTCAST_DATA_DIR={data_dir} for other commands)")
        if operator_token:  # printed in text mode; a 0600 file in JSON mode (no token in logs)
            self._show_operator_token(operator_token)


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port something already listens on, before anything starts (an API child
    that cannot bind would only be restarted with backoff, forever)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ScaleError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


async def _first_operator(database_url: str) -> str | None:
    """On the very first start, an operator and its token (as ``intentcast serve`` does)."""
    from intentcast.store.accounts import Operators
    from intentcast.store.db import connect

    async with connect(database_url) as conn:
        return await Operators(conn).create_first()


def _scale_data_dir(option: Path | None) -> Path:
    """``--data-dir``, else ``INTENTCAST_DATA_DIR``, else ``.intentcast-scale`` — never the
    ``.intentcast`` of ``intentcast serve``, so both can run side by side. A new data dir
    gets a ``.gitignore`` so that it never shows up in a checkout."""
    path = option or Path(os.environ.get("INTENTCAST_DATA_DIR") or DEFAULT_DATA_DIR)
    path = path.expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# written by intentcast scale: nothing in here belongs in git\n*\n")
    return path


@click.command()
@click.option(
    "--apis",
    type=click.IntRange(1, MAX_PROCESSES_PER_KIND),
    default=2,
    show_default=True,
    help="API processes, on consecutive ports from --base-port.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, MAX_PROCESSES_PER_KIND),
    default=2,
    show_default=True,
    help="Worker processes of each role (matcher, delivery, scheduler).",
)
@click.option("--base-port", type=int, help="First API port (INTENTCAST_PORT, default 8000).")
@click.option("--host", help="Listen address (INTENTCAST_HOST).")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Data dir of the embedded servers (INTENTCAST_DATA_DIR, default {DEFAULT_DATA_DIR}).",
)
def scale(
    apis: int, workers: int, base_port: int | None, host: str | None, data_dir: Path | None
) -> None:
    """Run the scale-out layout on this machine: several API processes and several workers
    of each role on one PostgreSQL and one Redis (embedded unless the URLs are set)."""
    from intentcast.embedded import EmbeddedError

    settings = command_settings(host=host, port=base_port, data_dir=str(_scale_data_dir(data_dir)))
    if settings.port + apis - 1 > 65535:
        raise click.UsageError(f"--base-port {settings.port} leaves no room for {apis} APIs")
    ports = [settings.port + n for n in range(apis)]
    try:
        code = ScaleOut(settings, api_ports=ports, workers_per_role=workers).run()
    except (EmbeddedError, ScaleError) as exc:
        raise click.ClickException(str(exc)) from None
    sys.exit(code)


COMMANDS = [scale]
