"""Server-Sent Events, parsed line by line (the WHATWG event-stream format, the part this
API uses): ``id:``, ``event:`` and ``data:`` fields, comments (``:``, the server's
keep-alives) skipped, a blank line ending each message.

Kept here rather than taken from ``httpx-sse`` because a plain install of intentcast does not
have that package (it is a test extra) and the format is a few lines of code."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_LINE_END = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class ServerSentEvent:
    event: str
    data: str
    id: str | None


@dataclass
class LineSplitter:
    """A stream's bytes as lines, split only at CR, LF or CRLF: the event-stream format's
    line ends. (``str.splitlines``, and so httpx's ``iter_lines``, also splits at U+2028,
    U+2029, U+0085 and a few control characters, which the JSON of an event may hold
    unescaped: an intent's title with U+2028 would cut its event in two.) A line still
    open when the stream ends is dropped, as the format drops an unfinished event."""

    _rest: bytes = b""
    _after_cr: bool = False

    def feed(self, chunk: bytes) -> list[str]:
        if self._after_cr and chunk.startswith(b"\n"):  # a CRLF split between chunks
            chunk = chunk[1:]
        data = self._rest + chunk
        parts = _LINE_END.split(data)
        self._rest = parts.pop()
        self._after_cr = data.endswith(b"\r")
        return [part.decode("utf-8", "replace") for part in parts]


@dataclass
class SSEDecoder:
    """Feed it lines without their line break; a complete message comes back from the
    blank line that ends it."""

    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _id: str | None = None

    def feed(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\x00" not in value:
            self._id = value
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data:
            self._event = ""
            return None
        message = ServerSentEvent(self._event or "message", "\n".join(self._data), self._id)
        self._event, self._data = "", []
        return message
