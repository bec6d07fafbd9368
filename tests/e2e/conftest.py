"""End-to-end harness: ``intentcast serve`` as a real process on a free port, with its own
data dir (embedded PostgreSQL and Redis), and the checks that it leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from httpx_sse import ServerSentEvent

READY_WITHIN_S = 45.0
"""Generous: a loaded 2-core machine has taken 17 s to start serve with two web workers."""

LIVE_WITHIN_S = 10.0
"""An open SSE stream that has gone quiet re-reads its log after the server's 15 s heartbeat.
Events that reach a stream sooner than that after it was established came over the live path."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def embedded_env(data_dir: Path, port: int) -> dict[str, str]:
    """This process's environment without any ``INTENTCAST_*`` setting, serving ``data_dir``
    (embedded PostgreSQL and Redis) on ``port``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENTCAST_")}
    env.update(INTENTCAST_DATA_DIR=str(data_dir), INTENTCAST_PORT=str(port))
    # k-anonymity off (lone intents reach vendors as sent) unless a test sets k_anonymity=…;
    # tests/e2e/test_kanon.py runs the product default, 3
    env.update(INTENTCAST_K_ANONYMITY="1")
    return env


class Server:
    """``intentcast serve`` over ``data_dir``; ``env`` are settings (``auto_verify_vendors``
    becomes ``INTENTCAST_AUTO_VERIFY_VENDORS``)."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.data_dir = data_dir
        self.extra_env = {f"INTENTCAST_{k.upper()}": v for k, v in env.items()}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"serve-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def postgres_url(self) -> str:
        """The embedded PostgreSQL the server runs (valid while it runs)."""
        from intentcast.embedded import EmbeddedPostgres

        return EmbeddedPostgres(self.data_dir / "postgres" / "data").url

    @property
    def redis_url(self) -> str:
        """The embedded Redis the server runs (valid while it runs)."""
        from intentcast.embedded import EmbeddedRedis

        return EmbeddedRedis(self.data_dir / "redis").url

    def start(self) -> float:
        started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "intentcast", "serve"],
            env=embedded_env(self.data_dir, self.port) | self.extra_env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = started + READY_WITHIN_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(self.url + "/ready", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"not ready in {READY_WITHIN_S}s:\n{self.log.read_text()}")

    def tree(self) -> list[psutil.Process]:
        assert self.process is not None
        parent = psutil.Process(self.process.pid)
        return [parent, *parent.children(recursive=True)]

    def stop(self, sig: int = signal.SIGTERM) -> list[psutil.Process]:
        assert self.process is not None
        tree = self.tree()
        self.process.send_signal(sig)
        self.process.wait(30)
        return tree

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def assert_all_gone(processes: list[psutil.Process], within: float = 10.0) -> None:
    _, alive = psutil.wait_procs(processes, timeout=within)
    assert not alive, f"left running: {[(p.pid, p.name()) for p in alive]}"


async def next_event(
    events: AsyncIterator[ServerSentEvent], deadline: float, *, event: str | None = None
) -> ServerSentEvent:
    """The stream's next event (of type ``event`` if given), or a ``TimeoutError`` at
    ``deadline`` (event-loop time)."""
    async with asyncio.timeout_at(deadline):
        async for sse in events:
            if event is None or sse.event == event:
                return sse
    raise AssertionError("the stream ended")


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """``make_server(**settings)``: a ``Server`` (not started) in this test's tmp dir; any
    still running at teardown is stopped, and must leave no process behind."""
    made: list[Server] = []

    def make(**env: str) -> Server:
        server = Server(tmp_path / f"data{len(made) or ''}", **env)
        made.append(server)
        return server

    yield make
    for server in reversed(made):
        if server.running:
            assert_all_gone(server.stop())
