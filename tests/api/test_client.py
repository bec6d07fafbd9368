"""``intentcast.client`` against the real app (PostgreSQL, Redis, the matcher): a whole deal
through the client only, pagination, problem errors, webhook verification of a real
delivery, and every OpenAPI operation having a client method; the SSE stream across a
server restart, the sync client and the README's example against a real ``intentcast api``
process on the test database. Retries are checked over ``httpx.MockTransport``."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from intentcast.api.intents import BuyerIntent
from intentcast.api.vendor import VendorEvent
from intentcast.client import (
    AsyncClient,
    Client,
    Conflict,
    ConnectionFailed,
    IntentcastError,
    NotFound,
    ProblemError,
    RateLimited,
    RetryPolicy,
    ServerError,
    StreamError,
    Unauthorized,
    ValidationFailed,
    WebhookVerificationError,
    verify_webhook,
)
from intentcast.client._endpoints import Resource, operations
from intentcast.client._sse import LineSplitter, SSEDecoder
from intentcast.config import Settings
from intentcast.services.offers import BuyerOfferView
from tests.api.inprocess import committed_openapi
from tests.api.inprocess import operations as openapi_operations
from tests.helpers import CAMERA, REPO_ROOT, create_operator, wait_for
from tests.webhook_receiver import WebhookReceiver

TOKEN_PREFIXES = {"Buyer": "/v1/me/tokens", "Vendor": "/v1/vendor/tokens"}
OFFER = {"price": {"amount": "1649.00", "currency": "EUR"}, "title": "Sony A7 IV, new"}


def client_operations() -> set[tuple[str, str, str]]:
    """(operationId, method, path) of every client method; the token routes are one method
    under two prefixes."""
    client = Client("http://test")
    resources = [v for v in vars(client).values() if isinstance(v, Resource)]
    resources += [client.buyer.tokens, client.vendor.tokens]
    found = set()
    for resource in {type(r) for r in resources}:
        for op in operations(resource):
            for operation_id in op.operation_id.split("|"):
                role = "Buyer" if "Buyer" in operation_id else "Vendor"
                path = op.path.replace("{prefix}", TOKEN_PREFIXES[role])
                found.add((operation_id, op.method, path))
    return found


def test_every_openapi_operation_has_a_client_method() -> None:
    documented = {
        (op.operation_id, op.method, op.path) for op in openapi_operations(committed_openapi())
    }
    assert client_operations() == documented


async def signed_up(anonymous: AsyncClient, db: asyncpg.Connection) -> tuple[AsyncClient, ...]:
    """A buyer, a vendor verified by an operator, and the operator: each a client."""
    buyer = await anonymous.accounts.create_buyer(
        {"display_name": "ada", "email": "ada@example.org", "country": "DE"}
    )
    vendor = await anonymous.accounts.create_vendor({"name": "Kamera Express"})
    operator = anonymous.with_token((await create_operator(db)).token)
    verified = await operator.admin.verify_vendor(vendor.vendor.id, reason="checked")
    assert verified.status == "verified"
    return (
        anonymous.with_token(buyer.token),
        anonymous.with_token(vendor.token),
        operator,
    )


async def next_events(
    vendor: AsyncClient, after: int, until: Callable[[list[VendorEvent]], bool]
) -> list[VendorEvent]:
    """The vendor's feed after ``after``, read through the client until ``until`` holds."""

    async def read() -> list[VendorEvent] | None:
        events = [event async for event in vendor.vendor.feed(after=after)]
        return events if until(events) else None

    return await wait_for(read, within=20.0)


async def test_buyer_and_vendor_close_a_deal_through_the_client(
    client: Any, db: asyncpg.Connection, make_pipeline: Callable[..., Any]
) -> None:
    await make_pipeline(["matcher"])
    anonymous = AsyncClient(http=client)
    buyer, vendor, operator = await signed_up(anonymous, db)
    subscription = await vendor.subscriptions.create({"categories": ["electronics/cameras"]})
    assert [s.id async for s in vendor.subscriptions.list()] == [subscription.id]

    preview = await buyer.intents.preview(CAMERA)
    assert preview.vendor_view.id is None
    intent = await buyer.intents.publish(CAMERA)
    assert isinstance(intent, BuyerIntent)
    assert intent.status == "open"

    (matched,) = await next_events(vendor, 0, lambda events: len(events) >= 1)
    assert isinstance(matched, VendorEvent)
    assert matched.type == "intent.matched"
    assert matched.data["intent"]["id"] == intent.id
    seen = await vendor.vendor.intent(intent.id)
    assert seen.title == intent.vendor_view.title

    offer = await vendor.offers.create(intent.id, OFFER, idempotency_key=f"offer-{intent.id}")
    assert offer.version == 1
    # the caller's own key (a restarted bot): the first answer again, not a second offer
    again = await vendor.offers.create(intent.id, OFFER, idempotency_key=f"offer-{intent.id}")
    assert again.id == offer.id
    with pytest.raises(Conflict) as twice:
        await vendor.offers.create(intent.id, OFFER)
    assert twice.value.code == "offer-exists"
    thread = await vendor.threads.open(intent.id, "Boxed, with a receipt. Pickup today?")
    await buyer.threads.post(thread.id, "Yes, this afternoon.")
    assert [t.id async for t in buyer.threads.list()] == [thread.id]

    offers = [o async for o in buyer.intents.offers(intent.id, sort="price")]
    assert [o.id for o in offers] == [offer.id]
    assert isinstance(offers[0], BuyerOfferView)
    assert offers[0].vendor.name == "Kamera Express"
    accepted = await buyer.offers.accept(offer.id, reveal_fields=["email"], version=offer.version)
    assert accepted.offer.status == "accepted"
    assert accepted.intent_status == "fulfilled"
    assert accepted.reveal is not None

    events = await next_events(
        vendor, matched.seq, lambda events: "reveal.granted" in {e.type for e in events}
    )
    assert "offer.accepted" in {e.type for e in events}
    await vendor.vendor.accept_terms(accepted.reveal.id)
    revealed = await vendor.vendor.reveal(accepted.reveal.id)
    assert revealed.fields == {"email": "ada@example.org"}

    rating = await buyer.offers.rate(offer.id, 5, "Smooth")
    assert rating.stars == 5
    assert [d.reveal_id async for d in buyer.buyer.disclosures()][-1] == accepted.reveal.id
    exported = await buyer.buyer.export()
    assert [i.id for i in exported.intents] == [intent.id]
    assert (await buyer.intents.get(intent.id)).status == "fulfilled"
    assert [(r.intent.id, r.offers) async for r in operator.admin.intents()] == [(intent.id, 1)]


async def test_lists_follow_the_next_cursor_through_every_page(client: Any) -> None:
    anonymous = AsyncClient(http=client)
    buyer = anonymous.with_token(
        (await anonymous.accounts.create_buyer({"display_name": "ada"})).token
    )
    published = [
        (await buyer.intents.publish(CAMERA | {"title": f"Camera number {n}"})).id for n in range(5)
    ]
    pages: list[str] = []

    async def record(request: httpx.Request) -> None:
        pages.append(str(request.url))

    client.event_hooks["request"].append(record)

    listed = [intent.id async for intent in buyer.intents.list(limit=2)]

    assert listed == published[::-1]  # newest first, none twice, none missing
    assert len(pages) == 3
    assert "after=" not in pages[0] and all("after=" in url for url in pages[1:])


async def test_refusals_raise_problem_errors_with_the_servers_fields(client: Any) -> None:
    anonymous = AsyncClient(http=client)
    buyer = anonymous.with_token(
        (await anonymous.accounts.create_buyer({"display_name": "ada"})).token
    )

    with pytest.raises(NotFound) as missing:
        await buyer.intents.get("int_nope")
    assert missing.value.status == 404
    assert missing.value.code == "not-found"
    assert missing.value.type == "urn:intentcast:problem:not-found"
    assert missing.value.request_id

    with pytest.raises(ValidationFailed) as invalid:
        await buyer.intents.publish(CAMERA | {"category": "no/such/category"})
    assert invalid.value.status == 422
    assert invalid.value.code == "validation-error"
    assert [e["field"] for e in invalid.value.errors] == ["category"]

    with pytest.raises(ProblemError) as unauthorized:
        await anonymous.with_token("icb_wrong").intents.get("int_nope")
    assert (unauthorized.value.status, unauthorized.value.code) == (401, "unauthorized")


async def test_a_real_webhook_delivery_verifies_and_a_tampered_one_does_not(
    client: Any, db: asyncpg.Connection, make_pipeline: Callable[..., Any]
) -> None:
    anonymous = AsyncClient(http=client)
    buyer, vendor, _ = await signed_up(anonymous, db)
    async with WebhookReceiver() as receiver:
        hook = await vendor.webhooks.create(receiver.url, ["intent.matched"])
        await vendor.subscriptions.create({"categories": ["electronics/cameras"]})
        await make_pipeline(["matcher", "delivery"])
        intent = await buyer.intents.publish(CAMERA)
        (delivery,) = await receiver.wait_for(1, timeout=30)

    event = verify_webhook(hook.secret, delivery.headers, delivery.body)
    assert isinstance(event, VendorEvent)
    assert (event.type, event.data["intent"]["id"]) == ("intent.matched", intent.id)
    tampered = delivery.body.replace(intent.id.encode(), b"int_forged")
    with pytest.raises(WebhookVerificationError):
        verify_webhook(hook.secret, delivery.headers, tampered)
    with pytest.raises(WebhookVerificationError):
        verify_webhook("whsec_" + "A" * 44, delivery.headers, delivery.body)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(hook.secret, {}, delivery.body)
    log = [d async for d in vendor.webhooks.deliveries(hook.id)]
    assert [d.event_id for d in log] == [event.id]


# ---- retries, over a scripted transport -------------------------------------------------


class Script:
    """A transport answering from a list of responses, recording every request, and the
    clients over it, which record their waits instead of sleeping."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.waits: list[float] = []

    def sync(self, token: str) -> Client:
        return Client("http://test", token, **self._options(self.waits.append))

    def asynchronous(self, token: str) -> AsyncClient:
        async def sleep(seconds: float) -> None:
            self.waits.append(seconds)

        return AsyncClient("http://test", token, **self._options(sleep))

    def _options(self, sleep: Callable[[float], Any]) -> dict[str, Any]:
        return {"transport": httpx.MockTransport(self), "sleep": sleep, "retry": NO_JITTER}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def keys(self) -> list[str | None]:
        return [r.headers.get("idempotency-key") for r in self.requests]


def problem(status: int, code: str, **headers: str) -> httpx.Response:
    body = {
        "type": f"urn:intentcast:problem:{code}",
        "title": "x",
        "status": status,
        "detail": code,
        "code": code,
    }
    return httpx.Response(status, json=body, headers={"x-request-id": "req-1", **headers})


NO_JITTER = RetryPolicy(jitter=lambda: 1.0)
"""Waits at their ceiling: 0.5, 1, 2, 4 ... seconds."""


async def test_a_429_waits_retry_after_and_resends_the_same_idempotency_key() -> None:
    script = Script(
        problem(429, "rate-limited", **{"Retry-After": "7"}),
        httpx.Response(202, json={"queued": 3}),
    )
    async with script.asynchronous("icv_x") as vendor:
        result = await vendor.webhooks.replay("whk_1", after_seq=2)

    assert result.queued == 3
    assert script.waits == [7.0]
    assert len(script.keys) == 2 and script.keys[0] == script.keys[1] and script.keys[0]
    again = Script(httpx.Response(202, json={"queued": 0}))
    async with again.asynchronous("icv_x") as vendor:
        await vendor.webhooks.replay("whk_1", after_seq=2)
    assert again.keys[0] != script.keys[0]  # one key per logical call


def test_gateway_errors_and_dropped_connections_back_off_then_give_up() -> None:
    script = Script(
        problem(502, "bad-gateway"),
        httpx.ConnectError("refused"),
        problem(503, "unavailable"),
        problem(504, "timeout"),
        problem(503, "unavailable"),
    )
    with script.sync("icb_x") as buyer, pytest.raises(ServerError) as failed:
        buyer.intents.get("int_1")
    assert script.waits == [0.5, 1.0, 2.0, 4.0]
    assert len(script.requests) == 5
    assert (failed.value.status, failed.value.code, failed.value.request_id) == (
        503,
        "unavailable",
        "req-1",
    )


def test_what_the_server_may_have_done_is_not_sent_twice() -> None:
    """A PATCH has no Idempotency-Key and a sign-up's is not replayed: after a 502 they are
    not retried (a 429 is: the server did nothing)."""
    script = Script(
        problem(502, "bad-gateway"),
        problem(502, "bad-gateway"),
        problem(429, "rate-limited", **{"Retry-After": "1"}),
        httpx.Response(200, json={"version": 2, "settings": {}}),
    )
    with script.sync("icv_x") as vendor:
        with pytest.raises(ServerError):
            vendor.offers.revise("off_1", {"title": "New title"})
        with pytest.raises(ServerError):
            vendor.accounts.create_vendor({"name": "Shop"})
        assert vendor.admin.change_settings({"rate_limit": 100}).version == 2
    assert [r.method for r in script.requests] == ["PATCH", "POST", "PATCH", "PATCH"]
    assert script.waits == [1.0]


def test_a_retry_after_longer_than_the_policy_allows_raises_at_once() -> None:
    script = Script(problem(429, "rate-limited", **{"Retry-After": "3600"}))
    with script.sync("icb_x") as buyer, pytest.raises(RateLimited) as limited:
        buyer.intents.get("int_1")
    assert limited.value.retry_after == 3600.0


def sse(*seqs: int) -> httpx.Response:
    """A stream answer carrying events ``seqs`` (after a keep-alive comment), then its end."""
    frames = [": keep-alive\r\n\r\n"]
    for seq in seqs:
        event = {
            "id": f"evt_{seq}",
            "seq": seq,
            "type": "intent.matched",
            "created_at": "2026-11-26T12:00:00Z",
            "data": {"intent": {"id": f"int_{seq}"}},
        }
        frames.append(f"id: {seq}\r\nevent: intent.matched\r\ndata: {json.dumps(event)}\r\n\r\n")
    return httpx.Response(
        200, content="".join(frames).encode(), headers={"content-type": "text/event-stream"}
    )


def test_the_event_stream_reconnects_with_last_event_id_and_never_repeats_a_seq() -> None:
    script = Script(
        problem(503, "unavailable"),
        problem(503, "unavailable"),
        sse(1, 2),  # then the connection ends
        httpx.ConnectError("refused"),
        sse(2, 3),  # a replay that overlaps what was seen
        problem(401, "unauthorized"),  # the token was revoked meanwhile
    )
    seen: list[int] = []
    with script.sync("icv_x") as vendor, pytest.raises(Unauthorized):
        for event in vendor.vendor.events():
            assert isinstance(event, VendorEvent)
            seen.append(event.seq)

    assert seen == [1, 2, 3]
    sent = [r.headers.get("last-event-id") for r in script.requests]
    assert sent == [None, None, None, "2", "2", "3"]
    assert script.waits == [0.5, 1.0, 0.5, 0.5, 0.5]  # backoff grows while nothing arrives


def test_events_are_split_only_at_the_formats_line_ends() -> None:
    """U+2028, U+2029 and U+0085 inside an event's JSON do not end its line (they would with
    str.splitlines, which httpx's iter_lines uses), whatever the chunking of the bytes."""
    event = {
        "id": "evt_1",
        "seq": 1,
        "type": "intent.matched",
        "created_at": "2026-11-26T12:00:00Z",
        "data": {"intent": {"id": "int_1", "title": "Lamp\u2028brass\u2029\x85 — ok"}},
    }
    wire = (
        f"id: 1\r\nevent: intent.matched\r\ndata: {json.dumps(event, ensure_ascii=False)}"
        "\r\n\r\n: keep-alive\n\nid: 2\rdata: {}\r\r"
    ).encode()
    for size in (1, 2, 3, 7, len(wire)):
        splitter = LineSplitter()
        lines = [
            line for at in range(0, len(wire), size) for line in splitter.feed(wire[at : at + size])
        ]
        decoder = SSEDecoder()
        messages = [m for line in lines if (m := decoder.feed(line)) is not None]
        assert [m.id for m in messages] == ["1", "2"], size
        assert json.loads(messages[0].data) == event
    assert LineSplitter().feed(b"data: cut sho") == []  # an open line is not a line yet


def test_a_message_that_is_not_an_event_reconnects_then_raises() -> None:
    cut = httpx.Response(
        200,
        content=b'id: 1\r\ndata: {"id": "evt_1", "seq": 1, "ty\r\n\r\n',
        headers={"content-type": "text/event-stream"},
    )
    script = Script(sse(1), cut, cut)
    seen: list[int] = []
    options = {**script._options(script.waits.append), "retry": RetryPolicy(stream_attempts=1)}
    with Client("http://test", "icv_x", **options) as vendor, pytest.raises(StreamError) as bad:
        for event in vendor.vendor.events():
            seen.append(event.seq)
    assert seen == [1]
    assert "after seq 1" in str(bad.value)
    assert [r.headers.get("last-event-id") for r in script.requests] == [None, "1", "1"]


def test_a_server_that_cannot_be_reached_raises_connection_failed() -> None:
    script = Script(*[httpx.ConnectError("refused")] * 5)
    with script.sync("icb_x") as buyer, pytest.raises(ConnectionFailed) as failed:
        buyer.intents.get("int_1")
    assert isinstance(failed.value, IntentcastError)
    assert isinstance(failed.value, httpx.TransportError)  # what callers caught before
    assert isinstance(failed.value.__cause__, httpx.ConnectError)
    assert len(script.requests) == 5


# ---- against a real server process ---------------------------------------------------------


class ApiProcess:
    """``intentcast api`` on a free port over the test's database and Redis (the matcher
    runs in the test's event loop, ``make_pipeline``); it can be stopped and started again
    on the same port."""

    def __init__(self, settings: Settings, log: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("INTENTCAST_")}
        self.env |= settings.env() | {
            "INTENTCAST_HOST": "127.0.0.1",
            "INTENTCAST_PORT": str(self.port),
        }
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "intentcast", "api", "--no-migrate"),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: granian's workers with it
            )

        async def ready() -> bool:
            assert self.process is not None, "not started"
            assert self.process.returncode is None, self.log.read_text()
            try:
                async with httpx.AsyncClient() as probe:
                    return (await probe.get(self.url + "/ready", timeout=1)).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(ready, within=45.0, interval=0.1)

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        """``sig`` to its process group, then wait; SIGKILL if it is still there after 10 s
        (a graceful stop waits for open streams)."""
        if self.process is None or self.process.returncode is not None:
            return
        os.killpg(self.process.pid, sig)
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()


@pytest.fixture
async def api_server(settings: Settings, tmp_path: Path) -> AsyncIterator[ApiProcess]:
    server = ApiProcess(settings, tmp_path / "api.log")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def within(seconds: float, step: Any) -> Any:
    async with asyncio.timeout(seconds):
        return await step


async def test_the_event_stream_resumes_across_a_server_restart_without_loss_or_repeat(
    api_server: ApiProcess,
    client: Any,
    db: asyncpg.Connection,
    make_pipeline: Callable[..., Any],
) -> None:
    await make_pipeline(["matcher"])
    stream_requests: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        if request.url.path == "/v1/vendor/stream":
            stream_requests.append(request)

    http = httpx.AsyncClient(base_url=api_server.url, event_hooks={"request": [record]})
    quick = RetryPolicy(backoff=0.05, max_backoff=0.5)
    async with AsyncClient(http=http, retry=quick) as anonymous:
        buyer, vendor, _ = await signed_up(anonymous, db)
        await vendor.subscriptions.create({"categories": ["electronics/cameras"]})
        first = await buyer.intents.publish(CAMERA)
        events = vendor.vendor.events()
        seen = [await within(20, anext(events))]
        second = await buyer.intents.publish(CAMERA | {"title": "A second camera body"})
        seen.append(await within(20, anext(events)))

        await api_server.stop(signal.SIGKILL)  # the server dies under the open stream
        in_process = AsyncClient(http=client, token=buyer.token)
        third = await in_process.intents.publish(CAMERA | {"title": "Published meanwhile"})
        await next_events(vendor_of(in_process, vendor), 2, lambda events: len(events) >= 1)
        await api_server.start()
        seen.append(await within(30, anext(events)))
        fourth = await buyer.intents.publish(CAMERA | {"title": "Published after"})
        seen.append(await within(20, anext(events)))
        await events.aclose()

    assert [e.seq for e in seen] == [1, 2, 3, 4]
    assert [e.data["intent"]["id"] for e in seen] == [first.id, second.id, third.id, fourth.id]
    assert "last-event-id" not in stream_requests[0].headers
    assert {r.headers["last-event-id"] for r in stream_requests[1:]} == {"2"}


def vendor_of(client: AsyncClient, vendor: AsyncClient) -> AsyncClient:
    return client.with_token(vendor.token)


def sync_deal(url: str, buyer_token: str, vendor_token: str) -> dict[str, Any]:
    """A buyer publishes, the vendor hears it live and offers, the buyer lists the offers:
    the blocking ``Client``, as a script without asyncio would use it."""
    with Client(url, vendor_token) as vendor:
        buyer = vendor.with_token(buyer_token)
        intent = buyer.intents.publish(CAMERA)
        events = vendor.vendor.events()
        matched = next(events)
        events.close()
        offer = vendor.offers.create(matched.data["intent"]["id"], OFFER)
        return {
            "intent": intent,
            "matched": matched,
            "offers": list(buyer.intents.offers(intent.id)),
            "offer": offer,
            "feed": [e.seq for e in itertools.islice(vendor.vendor.feed(), 10)],
        }


async def test_the_blocking_client_does_the_same_against_a_real_server(
    api_server: ApiProcess, db: asyncpg.Connection, make_pipeline: Callable[..., Any]
) -> None:
    await make_pipeline(["matcher"])
    async with AsyncClient(api_server.url) as anonymous:
        buyer, vendor, _ = await signed_up(anonymous, db)
        await vendor.subscriptions.create({"categories": ["electronics/cameras"]})

    done = await asyncio.wait_for(
        asyncio.to_thread(sync_deal, api_server.url, buyer.token, vendor.token), 60
    )

    assert done["matched"].type == "intent.matched"
    assert done["matched"].data["intent"]["id"] == done["intent"].id
    assert [o.id for o in done["offers"]] == [done["offer"].id]
    assert done["feed"] == [1]


def readme_example() -> str:
    """The Python block of the README's "Client library" section."""
    section = (REPO_ROOT / "README.md").read_text().split("## Client library", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


async def test_the_readme_example_bids_on_a_match(
    api_server: ApiProcess, db: asyncpg.Connection, make_pipeline: Callable[..., Any]
) -> None:
    await make_pipeline(["matcher"])
    code = readme_example()
    assert len([line for line in code.splitlines() if line.strip()]) <= 12
    definitions, run = code.rsplit("asyncio.run(", 1)
    assert run.startswith('bid("http://127.0.0.1:8000", "icv_...")')
    namespace: dict[str, Any] = {}
    exec(compile(definitions, "README.md", "exec"), namespace)  # noqa: S102 - our own README

    async with AsyncClient(api_server.url) as anonymous:
        buyer, vendor, _ = await signed_up(anonymous, db)
        bot = asyncio.create_task(namespace["bid"](api_server.url, vendor.token))
        try:
            await wait_for(lambda: first_of(vendor.subscriptions.list()), within=20.0)
            intent = await buyer.intents.publish(CAMERA)
            offers = await wait_for(lambda: first_of(buyer.intents.offers(intent.id)), within=20.0)
        finally:
            bot.cancel()
            await asyncio.gather(bot, return_exceptions=True)

    assert offers.title == "A7 IV"
    assert str(offers.price.amount) == "1649.00"


async def first_of(items: AsyncIterator[Any]) -> Any:
    async for item in items:
        return item
    return None
