"""The event catalogue of the OpenAPI document: for each event type a vendor's log (feed,
SSE stream, webhooks) or a buyer's stream may carry, the schema of its ``data`` and what it
means, in ``VENDOR_EVENTS`` and ``BUYER_EVENTS`` (and ``WEBHOOK_ONLY_EVENTS``, the test event
a webhook endpoint may receive) — the one place that maps an event type to its payload.

The logs keep ``data`` as the JSON the services wrote (``LogEvent.data``); the Structs here
describe it and are never used to encode it. In the document:

- ``VendorEvent`` and ``BuyerEvent`` (components) are discriminated unions on ``type`` of one
  envelope per event type (``VendorIntentMatchedEvent``: ``{id, seq, type, created_at,
  data}``), made by ``EventSchemas``, the OpenAPI schema plugin;
- the two SSE streams answer ``text/event-stream`` (``stream_response``), each event's
  ``data:`` line one of those envelopes;
- ``webhooks`` (``webhook_docs``) has one entry per event type a webhook endpoint receives,
  as delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, Union

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Discriminator,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    PathItem,
    Reference,
    RequestBody,
    Schema,
)
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from intentcast.domain.events import WEBHOOK_TEST_EVENT, BuyerEventType, VendorEventType
from intentcast.domain.intents import Terms
from intentcast.domain.reveals import PersonaField
from intentcast.domain.vendor_view import VendorIntent
from intentcast.services.offers import BuyerOfferView, OfferView
from intentcast.services.relay import MessageView
from intentcast.store.events import LogEvent


def _doc(text: str) -> Any:
    return msgspec.Meta(extra_json_schema={"description": text})


# ---- the data of each event ----------------------------------------------------------------


class IntentMatchedData(msgspec.Struct, kw_only=True):
    intent: VendorIntent
    subscription_ids: Annotated[list[str], _doc("Your subscriptions it matched.")]


class IntentChangedData(msgspec.Struct, kw_only=True):
    intent: VendorIntent


class VendorOfferData(msgspec.Struct, kw_only=True):
    offer: OfferView
    intent_id: str


class MessageData(msgspec.Struct, kw_only=True):
    thread_id: str
    intent_id: str
    message: MessageView


class RevealGrantedData(msgspec.Struct, kw_only=True):
    reveal_id: str
    intent_id: str
    fields: Annotated[
        list[PersonaField],
        _doc("The persona fields revealed: read them after accepting the terms."),
    ]
    terms: Terms


class RevealRevokedData(msgspec.Struct, kw_only=True):
    reveal_id: str
    intent_id: str


class DisabledWebhook(msgspec.Struct, kw_only=True):
    id: str
    url: str
    status: Literal["disabled"]
    disabled_reason: str
    failing_since: Annotated[
        datetime | None,
        _doc("The first failed attempt of the streak that disabled it."),
    ]


class WebhookDisabledData(msgspec.Struct, kw_only=True):
    webhook: DisabledWebhook


class WebhookTestData(msgspec.Struct, kw_only=True):
    test: Annotated[bool, _doc("Always true.")]
    webhook_id: Annotated[str, _doc("The endpoint the test was sent to.")]
    message: str


class BuyerOfferData(msgspec.Struct, kw_only=True):
    offer: BuyerOfferView


class IntentRemovedData(msgspec.Struct, kw_only=True):
    intent_id: str
    status: Literal["removed"]
    reason: Annotated[str, _doc("The operator's reason.")]


# ---- the catalogue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EventDoc:
    data: type[msgspec.Struct]
    """The Struct ``data`` follows."""
    description: str
    """When the event happens."""


VENDOR_EVENTS: dict[str, EventDoc] = {
    VendorEventType.INTENT_MATCHED: EventDoc(
        IntentMatchedData,
        "An open intent matched one or more of your subscriptions: when it was published "
        "or changed, or when one of your subscriptions was created or widened; once per "
        "intent.",
    ),
    VendorEventType.INTENT_UPDATED: EventDoc(
        IntentChangedData,
        "An intent you matched changed: edited, paused or reopened by its buyer, or moved "
        "to another category by the operators.",
    ),
    VendorEventType.INTENT_CLOSED: EventDoc(
        IntentChangedData,
        "An intent you matched closed: withdrawn by its buyer, fulfilled, expired or "
        "removed by the operators.",
    ),
    VendorEventType.OFFER_ACCEPTED: EventDoc(VendorOfferData, "The buyer accepted your offer."),
    VendorEventType.OFFER_DECLINED: EventDoc(
        VendorOfferData,
        "The buyer declined your offer, or accepted another vendor's offer on the intent.",
    ),
    VendorEventType.MESSAGE_CREATED: EventDoc(
        MessageData, "The buyer wrote in one of your relay threads."
    ),
    VendorEventType.REVEAL_GRANTED: EventDoc(
        RevealGrantedData, "A buyer revealed persona fields to you."
    ),
    VendorEventType.REVEAL_REVOKED: EventDoc(
        RevealRevokedData, "The buyer revoked a reveal: reading it now answers 410."
    ),
    VendorEventType.WEBHOOK_DISABLED: EventDoc(
        WebhookDisabledData,
        "One of your webhook endpoints was disabled because its deliveries kept failing "
        "(told on every channel but that endpoint); `PATCH` it with `enabled: true` once "
        "it is fixed.",
    ),
}
"""Every event type of a vendor's log (feed, SSE, webhooks): its ``data`` and meaning."""

BUYER_EVENTS: dict[str, EventDoc] = {
    BuyerEventType.OFFER_CREATED: EventDoc(
        BuyerOfferData, "A vendor made an offer on your intent."
    ),
    BuyerEventType.OFFER_UPDATED: EventDoc(
        BuyerOfferData, "An offer on your intent was revised by its vendor, or expired."
    ),
    BuyerEventType.OFFER_WITHDRAWN: EventDoc(
        BuyerOfferData, "A vendor withdrew its offer (or the operators suspended the vendor)."
    ),
    BuyerEventType.MESSAGE_CREATED: EventDoc(
        MessageData, "A vendor wrote in one of your relay threads."
    ),
    BuyerEventType.INTENT_REMOVED: EventDoc(
        IntentRemovedData, "An operator removed one of your intents, with the reason."
    ),
}
"""Every event type of a buyer's stream: its ``data`` and meaning."""

WEBHOOK_ONLY_EVENTS: dict[str, EventDoc] = {
    WEBHOOK_TEST_EVENT: EventDoc(
        WebhookTestData,
        "A test event sent on request (`POST /v1/vendor/webhooks/{id}/test`) to that "
        "endpoint only: `seq` is 0 and it is no part of your feed (do not move your feed "
        "cursor with it).",
    ),
}
"""Event types a webhook endpoint receives that are in no log."""


def _envelope_name(audience: str, event_type: str) -> str:
    words = event_type.replace("_", ".").split(".")
    return audience + "".join(w.capitalize() for w in words) + "Event"


def _envelope(audience: str, event_type: str, data: type) -> type[msgspec.Struct]:
    """``{id, seq, type, created_at, data}`` of one event type: a Struct tagged by ``type``."""
    return msgspec.defstruct(
        _envelope_name(audience, event_type),
        [("id", str), ("seq", int), ("created_at", datetime), ("data", data)],
        kw_only=True,
        tag_field="type",
        tag=str(event_type),
        module=__name__,
    )


VENDOR_ENVELOPES = {t: _envelope("Vendor", t, doc.data) for t, doc in VENDOR_EVENTS.items()}
BUYER_ENVELOPES = {t: _envelope("Buyer", t, doc.data) for t, doc in BUYER_EVENTS.items()}
WEBHOOK_ONLY_ENVELOPES = {
    t: _envelope("Vendor", t, doc.data) for t, doc in WEBHOOK_ONLY_EVENTS.items()
}


class VendorEvent(LogEvent, kw_only=True):
    """One entry of a vendor's feed: ``{id, seq, type, created_at, data}``; the document
    shows it as the union of ``VENDOR_ENVELOPES``."""


class BuyerEvent(LogEvent, kw_only=True):
    """One entry of a buyer's stream; the document shows it as the union of
    ``BUYER_ENVELOPES``."""


_UNIONS: dict[type, tuple[dict[str, EventDoc], dict[str, type[msgspec.Struct]], str]] = {
    VendorEvent: (
        VENDOR_EVENTS,
        VENDOR_ENVELOPES,
        "One event of a vendor's log, the same on the feed, the SSE stream and webhooks: "
        "`type` says which, `data` depends on it, `seq` orders the log without gaps.",
    ),
    BuyerEvent: (
        BUYER_EVENTS,
        BUYER_ENVELOPES,
        "One event of a buyer's stream: `type` says which, `data` depends on it, `seq` "
        "orders the stream without gaps.",
    ),
}


# ---- the SSE streams -------------------------------------------------------------------------


class VendorEventStream:
    """The body of ``GET /v1/vendor/stream`` (a documentation marker)."""

    events = VendorEvent


class BuyerEventStream:
    """The body of ``GET /v1/me/stream`` (a documentation marker)."""

    events = BuyerEvent


def _stream_description(events: type) -> str:
    name = events.__name__
    return (
        "Server-Sent Events (`text/event-stream`), one per event in `seq` order: `id:` is the "
        f"event's `seq`, `event:` its type, `data:` the whole event as one line of JSON, a "
        f"`{name}` (`{{id, seq, type, created_at, data}}`). A `: keep-alive` comment comes "
        "every 15 s of silence. After a disconnect, reconnect with `Last-Event-ID` set to "
        "the last `id` you saw (or `?after=`): nothing is lost or repeated."
    )


def stream_response(marker: type[VendorEventStream] | type[BuyerEventStream]) -> ResponseSpec:
    """The documented ``200`` of an SSE stream handler."""
    return ResponseSpec(
        data_container=marker,
        media_type="text/event-stream",
        description=_stream_description(marker.events),
        generate_examples=False,
    )


LAST_EVENT_ID = (
    "Resume after this event: the `seq` of the last event you received (the SSE `id`). "
    "EventSource sends it by itself on reconnect; it wins over `after`."
)
AFTER_SEQ = "Start after this `seq` (default 0: from the beginning of the log)."


# ---- the plugin ------------------------------------------------------------------------------


class EventSchemas(OpenAPISchemaPlugin):
    """Documents ``VendorEvent`` and ``BuyerEvent`` as discriminated unions on ``type`` of
    their envelopes (each with its event's description), and a stream marker as a string
    (the SSE body), registering its events' schemas on the way."""

    __slots__ = ()

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return field_definition.annotation in (
            VendorEvent,
            BuyerEvent,
            VendorEventStream,
            BuyerEventStream,
        )

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Any:
        annotation = field_definition.annotation
        if annotation in (VendorEventStream, BuyerEventStream):
            schema_creator.for_field_definition(FieldDefinition.from_annotation(annotation.events))
            return Schema(
                type=OpenAPIType.STRING,
                description=f"SSE: each event's `data:` is a `{annotation.events.__name__}`.",
            )
        catalogue, envelopes, description = _UNIONS[annotation]
        registry = schema_creator.schema_registry
        schema = registry.get_schema_for_field_definition(field_definition)
        union = schema_creator.for_field_definition(
            FieldDefinition.from_annotation(Union[tuple(envelopes.values())])  # noqa: UP007
        )
        for reference, event_type in zip(union.one_of, envelopes, strict=True):
            registry.from_reference(reference).schema.description = catalogue[
                event_type
            ].description
        if annotation is VendorEvent:  # what else a webhook receives (see ``webhook_docs``)
            for event_type, envelope in WEBHOOK_ONLY_ENVELOPES.items():
                reference = schema_creator.for_field_definition(
                    FieldDefinition.from_annotation(envelope)
                )
                registry.from_reference(reference).schema.description = WEBHOOK_ONLY_EVENTS[
                    event_type
                ].description
        schema.title = annotation.__name__
        schema.description = description
        schema.one_of = union.one_of
        schema.discriminator = Discriminator(
            property_name="type",
            mapping={
                str(t): f"#/components/schemas/{envelope.__name__}"
                for t, envelope in envelopes.items()
            },
        )
        return registry.get_reference_for_field_definition(field_definition)


# ---- webhooks --------------------------------------------------------------------------------


def _header(name: str, description: str) -> Parameter:
    return Parameter(
        name=name,
        param_in="header",
        required=True,
        schema=Schema(type=OpenAPIType.STRING),
        description=description,
    )


WEBHOOK_HEADERS = [
    _header("webhook-id", "The event's `id`: the same on every attempt (deduplicate on it)."),
    _header("webhook-timestamp", "When this attempt was signed, in Unix seconds."),
    _header(
        "webhook-signature",
        "Standard Webhooks `v1,<base64 HMAC-SHA256>` over `{webhook-id}.{webhook-timestamp}."
        "{body}` with your endpoint's `whsec_` secret; during a secret rotation's grace period "
        "two space-separated signatures, the new secret's first.",
    ),
]


def webhook_docs() -> dict[str, PathItem | Reference]:
    """The OpenAPI ``webhooks`` section: one entry per vendor event type, as POSTed to a
    vendor's endpoint (the same JSON as on the feed), and the test event."""
    envelopes = VENDOR_ENVELOPES | WEBHOOK_ONLY_ENVELOPES
    return {
        str(event_type): PathItem(
            post=Operation(
                summary=f"`{event_type}`",
                description=doc.description
                + " Answer 2xx to acknowledge; anything else (or no answer) is retried "
                "with backoff for about a day, honouring `Retry-After`. 410 Gone disables "
                "the endpoint, and so do deliveries failing for days (`webhook.disabled`). "
                "Deduplicate on `webhook-id`: delivery is at least once.",
                tags=["vendor"],
                parameters=list(WEBHOOK_HEADERS),
                request_body=RequestBody(
                    required=True,
                    content={
                        "application/json": OpenAPIMediaType(
                            schema=Reference(
                                ref="#/components/schemas/" + envelopes[event_type].__name__
                            )
                        )
                    },
                ),
                responses={
                    "2XX": OpenAPIResponse(description="Delivered."),
                    "410": OpenAPIResponse(description="Gone: disable this endpoint."),
                },
                security=[],
            )
        )
        for event_type, doc in (VENDOR_EVENTS | WEBHOOK_ONLY_EVENTS).items()
    }
