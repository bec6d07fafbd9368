"""Cheap load-generator parts for ``bench/e2e.py``: a pre-encoded HTTP/1.1 publisher, and the
receiving side (raw-socket SSE listeners + a webhook receiver) as a separate process.

The receiving side runs in its own process so that 1,000 SSE connections do not cost the
process that schedules and times the publishes. ``time.monotonic()`` is the system-wide
``CLOCK_MONOTONIC`` on Linux, so receipt times taken here compare directly with send times
taken in the parent.

Child protocol (``python bench/loadgen.py receive --port P --spec spec.json --out out.json``):
the spec is ``{"sse": [[vendor, token], ...]}``; the child prints ``HOOK <port>`` once its
webhook receiver listens, then ``READY`` once every SSE connection got its response head; a
line ``stop`` on stdin makes it write ``out.json`` (``sse``/``hook`` receipts as
``[vendor, intent_id, monotonic, seq]``, plus counters) and exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

# ----------------------------------------------------------------------------- publisher


class RawPublisher:
    """Keep-alive HTTP/1.1 connections for POSTs of pre-encoded requests: the per-request
    cost is one write and three reads, far below the server's per-request cost."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0

    @staticmethod
    def encode(path: str, token: str, body: bytes) -> bytes:
        return (
            f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {token}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        ).encode() + body

    async def send(self, request: bytes) -> tuple[int, bytes, float]:
        """Write one pre-encoded request; returns (status, body, send time). A kept-alive
        connection the server closed while idle (EOF before any byte of an answer) is
        replaced and the request written again, once."""
        for reused in (True, False):
            if self.idle and reused:
                reader, writer = self.idle.pop()
            else:
                reused = False
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                self.opened += 1
            sent = time.monotonic()
            writer.write(request)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                break
            except asyncio.IncompleteReadError as exc:
                writer.close()
                if not reused or exc.partial:
                    raise
            except Exception:
                writer.close()
                raise
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            writer.close()
            raise RuntimeError("response without content-length")
        data = await reader.readexactly(length)
        self.idle.append((reader, writer))
        return status, data, sent

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


# ----------------------------------------------------------------------------- receivers


class HookReceiver:
    """A minimal keep-alive HTTP/1.1 server recording (vendor, intent id, receipt time)."""

    def __init__(self) -> None:
        self.received: list[tuple[int, str, float, int]] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in list(self.writers):
                writer.close()
            await asyncio.sleep(0.1)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                target = lines[0].split(b" ")[1].decode()
                length, chunked = 0, False
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"transfer-encoding" and b"chunked" in value.lower():
                        chunked = True
                if chunked:
                    body = b""
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                        body += await reader.readexactly(size + 2)
                        if size == 0:
                            break
                else:
                    body = await reader.readexactly(length)
                now = time.monotonic()
                with contextlib.suppress(ValueError, KeyError, IndexError, TypeError):
                    event = json.loads(body)
                    if event.get("type") == "intent.matched":
                        vendor = int(target.rsplit("/", 1)[1])
                        self.received.append(
                            (vendor, event["data"]["intent"]["id"], now, event["seq"])
                        )
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()


class SseListeners:
    """One raw-socket SSE connection per vendor (``/v1/vendor/stream``), reconnecting with
    ``Last-Event-ID``; records each ``intent.matched`` event with its receipt time and
    counts sequence gaps (an event whose seq is not the last one + 1)."""

    def __init__(self, port: int, vendors: list[tuple[int, str]]) -> None:
        self.port = port
        self.vendors = vendors
        self.received: list[tuple[int, str, float, int]] = []
        self.reconnects = 0
        self.gaps = 0
        self.connected = 0
        self.all_connected = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._listen(v, token)) for v, token in self.vendors]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _listen(self, vendor: int, token: str) -> None:
        last = 0
        first = True
        while True:
            writer = None
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=2**22)
                resume = f"last-event-id: {last}\r\n" if last else ""
                writer.write(
                    (
                        f"GET /v1/vendor/stream HTTP/1.1\r\nhost: 127.0.0.1\r\n"
                        f"authorization: Bearer {token}\r\naccept: text/event-stream\r\n"
                        f"{resume}\r\n"
                    ).encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                if head[9:12] != b"200":
                    raise ConnectionError(f"SSE answered {head[:40]!r}")
                chunked = b"chunked" in head.lower()
                if first:
                    first = False
                    self.connected += 1
                    if self.connected == len(self.vendors):
                        self.all_connected.set()
                buffer = b""
                async for data in _body(reader, chunked):
                    buffer += data
                    while True:
                        end = buffer.find(b"\r\n\r\n")
                        if end < 0:
                            break
                        frame, buffer = buffer[:end], buffer[end + 4 :]
                        last = self._frame(vendor, frame, last)
            except asyncio.CancelledError:
                raise
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                pass
            finally:
                if writer is not None:
                    writer.close()
            self.reconnects += 1
            await asyncio.sleep(0.2)

    def _frame(self, vendor: int, frame: bytes, last: int) -> int:
        now = time.monotonic()
        event = data = seq = None
        for line in frame.split(b"\r\n"):
            name, _, value = line.partition(b": ")
            if name == b"event":
                event = value
            elif name == b"id":
                seq = int(value)
            elif name == b"data":
                data = value
        if seq is None:
            return last
        if seq != last + 1 and last:
            self.gaps += 1
        if event == b"intent.matched" and data is not None:
            self.received.append((vendor, json.loads(data)["data"]["intent"]["id"], now, seq))
        return max(last, seq)


async def _body(reader: asyncio.StreamReader, chunked: bool):
    """The response body as it arrives (de-chunked)."""
    if not chunked:
        while data := await reader.read(65536):
            yield data
        return
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            return
        data = await reader.readexactly(size + 2)
        yield data[:-2]


async def receive(port: int, spec: dict[str, Any], out: str) -> None:
    hooks = HookReceiver()
    await hooks.start()
    print(f"HOOK {hooks.port}", flush=True)
    listeners = SseListeners(port, [(v, t) for v, t in spec["sse"]])
    listeners.start()
    if listeners.vendors:
        await asyncio.wait_for(listeners.all_connected.wait(), 120)
    print("READY", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "stop", or EOF
    result = {
        "sse": listeners.received,
        "hook": hooks.received,
        "reconnects": listeners.reconnects,
        "gaps": listeners.gaps,
        "cpu_s": sum(os.times()[:2]),
    }
    await listeners.stop()
    await hooks.stop()
    await asyncio.to_thread(Path(out).write_text, json.dumps(result))
    print("DONE", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("receive", help="SSE listeners + webhook receiver (a child process)")
    rec.add_argument("--port", type=int, required=True)
    rec.add_argument("--spec", required=True)
    rec.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.spec) as f:
        spec = json.load(f)
    asyncio.run(receive(args.port, spec, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
