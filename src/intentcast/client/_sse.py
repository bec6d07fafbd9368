"""Server-Sent Events, parsed line by line (the WHATWG event-stream format, the part this
API uses): ``id:``, ``event:`` and ``data:`` fields, comments (``:``, the server's
keep-alives) skipped, a blank line ending each message.

Kept here rather than taken from ``httpx-sse`` because a plain install of intentcast does not
have that package (it is a test extra) and the format is a few lines of code."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServerSentEvent:
    event: str
    data: str
    id: str | None


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
