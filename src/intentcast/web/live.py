"""``GET /events``: the signed-in buyer's own events (``offer.created``,
``offer.updated``, ``offer.withdrawn``, ``message.created``, ``intent.removed``) as
Server-Sent Events, through the same stream machinery as ``GET /v1/me/stream``
(``EventStreams``), authenticated by the web session. The intent and thread pages' scripts
listen and fetch the fresh server-rendered list when something arrives (a burst — the
log replayed on connecting — costs one fetch).

The session is checked on a connection returned to the pool at once: a stream lasts for
minutes and must not hold one."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import Parameter
from litestar.response import ServerSentEvent

from intentcast.api.streams import EventStreams, seq_param
from intentcast.web.session import SignInRequired, signed_in


class LivePages(Controller):
    include_in_schema = False

    @get("/events")
    async def events(
        self,
        request: Request[Any, Any, Any],
        streams: EventStreams,
        last_event_id: Annotated[
            str | None, Parameter(header="Last-Event-ID", max_length=20)
        ] = None,
        after: Annotated[str | None, Parameter(max_length=20)] = None,
    ) -> ServerSentEvent:
        async with request.app.state.pool.acquire() as db:
            principal = await signed_in(request, db)
        if principal is None or principal.role != "buyer":
            raise SignInRequired("buyer")
        start = seq_param(last_event_id or after)
        return ServerSentEvent(streams.buyer(principal.subject_id, start))
