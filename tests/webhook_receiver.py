"""A real HTTP/1.1 webhook receiver on 127.0.0.1 for tests (an asyncio server, not a mock).

    async with WebhookReceiver() as receiver:
        receiver.responses.append((500, {}, 0.0))        # first request gets a 500
        receiver.responses.append((204, {}, 0.0, b""))   # optional 4th item: response body
        ...  # deliver to receiver.url
        [(headers, body, received_at)] = await receiver.wait_for(1, timeout=5)

Requests are recorded as soon as their body has been read (before any scripted delay).
Unscripted requests get ``204 No Content``. Keep-alive and chunked request bodies work.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from http import HTTPStatus
from typing import Any, NamedTuple, Self

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024


class ReceivedRequest(NamedTuple):
    headers: dict[str, str]  # names lower-cased
    body: bytes
    received_at: float  # time.monotonic()


class _BadRequest(Exception):
    pass


class WebhookReceiver:
    def __init__(self, path: str = "/hook") -> None:
        self.path = path
        self.requests: list[ReceivedRequest] = []
        self.request_lines: list[tuple[str, str]] = []  # (method, target), parallel to requests
        # Scripted answers for successive requests: (status, headers, delay_s[, body]).
        self.responses: deque[tuple[Any, ...]] = deque()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._arrived = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def wait_for(self, n: int, timeout: float) -> list[ReceivedRequest]:  # noqa: ASYNC109
        """Wait until at least ``n`` requests have arrived; return the first ``n``."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"expected {n} webhook requests within {timeout}s, got {len(self.requests)}"
                )
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
        return self.requests[:n]

    # --- server side --------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    break
                method, target, headers, body = request
                self.requests.append(ReceivedRequest(headers, body, time.monotonic()))
                self.request_lines.append((method, target))
                self._arrived.set()
                script = self.responses.popleft() if self.responses else (204, {}, 0.0)
                status, extra_headers, delay = script[0], script[1], script[2]
                response_body = script[3] if len(script) > 3 else b""
                if delay:
                    await asyncio.sleep(delay)
                keep_alive = headers.get("connection", "").lower() != "close"
                writer.write(_response(status, extra_headers, response_body, keep_alive))
                await writer.drain()
                if not keep_alive:
                    break
        except _BadRequest:
            with contextlib.suppress(ConnectionError):
                writer.write(_response(400, {}, b"bad request", keep_alive=False))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went away, or the receiver is shutting down
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _read_request(
        self, reader: asyncio.StreamReader
    ) -> tuple[str, str, dict[str, str], bytes] | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise _BadRequest("truncated request head") from None
            return None  # the client closed an idle keep-alive connection
        except asyncio.LimitOverrunError:
            raise _BadRequest("request head too large") from None
        if len(head) > MAX_HEADER_BYTES:
            raise _BadRequest("request head too large")
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ")
        except ValueError:
            raise _BadRequest("bad request line") from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadRequest("bad header line")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await _read_chunked(reader)
        else:
            length = int(headers.get("content-length", "0") or 0)
            if length < 0 or length > MAX_BODY_BYTES:
                raise _BadRequest("bad content-length")
            body = await reader.readexactly(length)
        return method, target, headers, body


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";")[0].strip(), 16)
        except ValueError:
            raise _BadRequest("bad chunk size") from None
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers
            return bytes(body)
        body.extend(await reader.readexactly(size))
        await reader.readexactly(2)
        if len(body) > MAX_BODY_BYTES:
            raise _BadRequest("body too large")


def _response(status: int, headers: dict[str, str], body: bytes, keep_alive: bool) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Status"
    lines = [f"HTTP/1.1 {status} {reason}"]
    names = {name.lower() for name in headers}
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if "content-length" not in names and status != 204 and not 100 <= status < 200:
        lines.append(f"content-length: {len(body)}")
    if not keep_alive:
        lines.append("connection: close")
    if status == 204:
        body = b""
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
