"""``intentcast mcp`` driven by the official MCP SDK's client, as an assistant would, against
a real ``intentcast serve``: the tools and their schemas, a preview whose redaction is shown
before publishing, an offer seen and compared, and an acceptance that is only proposed (a
link, offered to the human by URL elicitation) and happens only when the human confirms
on the page the link opens, signed in with their own token; the assistant's scoped token
could not have accepted."""

from __future__ import annotations

import asyncio
import copy
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import mcp.types as types
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from intentcast.client import AsyncClient, Forbidden
from tests.e2e.conftest import Server, free_port
from tests.helpers import CAMERA

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

TOOLS = {
    "preview_intent",
    "publish_intent",
    "list_intents",
    "get_intent",
    "list_offers",
    "compare_offers",
    "list_threads",
    "read_thread",
    "reply_in_thread",
    "pause_intent",
    "reopen_intent",
    "withdraw_intent",
    "propose_acceptance",
    "propose_reveal",
}
PHONE = "+49 170 1234567"
CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


@pytest.fixture
def server(make_server) -> Server:
    srv = make_server(auto_verify_vendors="true")
    srv.start()
    return srv


async def call(session: ClientSession, name: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(name, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def refused(session: ClientSession, name: str, **arguments: Any) -> str:
    result = await session.call_tool(name, arguments)
    assert result.is_error, result.structured_content
    (content,) = result.content
    assert isinstance(content, types.TextContent)
    return content.text


async def matched(vendor: AsyncClient, intent_id: str) -> None:
    for _ in range(200):
        events = [e async for e in vendor.vendor.feed()]
        if any(e.type == "intent.matched" and e.data["intent"]["id"] == intent_id for e in events):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the vendor was never matched")


async def test_an_assistant_proposes_and_only_the_human_accepts(
    server: Server, tmp_path: Path
) -> None:
    async with AsyncClient(server.url, timeout=30) as anonymous:
        signed_up = await anonymous.accounts.create_buyer(
            {"display_name": "ada", "email": "ada@example.org", "phone": PHONE, "country": "DE"}
        )
        buyer = anonymous.with_token(signed_up.token)
        vendor = anonymous.with_token(
            (await anonymous.accounts.create_vendor({"name": "Kamera Express"})).token
        )
        await vendor.subscriptions.create({"categories": ["electronics/cameras"]})
        # the assistant gets a scoped token: no reveal, no accept
        agent_token = (
            await buyer.buyer.tokens.create(
                "my assistant",
                scopes=[
                    "intents:read",
                    "intents:write",
                    "offers:read",
                    "relay:read",
                    "relay:write",
                ],
            )
        ).token
        agent = anonymous.with_token(agent_token)

        elicited: list[types.ElicitRequestParams] = []

        async def on_elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
            elicited.append(params)
            return types.ElicitResult(action="accept")

        errlog = tmp_path / "mcp-stderr.log"
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "intentcast", "mcp", "--url", server.url, "--web-url", f"{server.url}/"],
            env={"INTENTCAST_TOKEN": agent_token},
        )
        with errlog.open("w") as stderr:
            async with (
                stdio_client(params, errlog=stderr) as (read, write),
                ClientSession(read, write, elicitation_callback=on_elicit) as session,
            ):
                await session.initialize()

                # the tools, each with an input schema generated from the server's Structs
                listed = (await session.list_tools()).tools
                assert {t.name for t in listed} == TOOLS
                schemas = {t.name: t.input_schema for t in listed}
                assert all(s["type"] == "object" for s in schemas.values())
                publish_schema = schemas["publish_intent"]
                assert publish_schema["required"] == ["draft", "confirm_redactions"]
                draft_schema = publish_schema["$defs"]["IntentDraft"]
                assert {"category", "title", "budget"} <= set(draft_schema["properties"])
                fields = schemas["propose_reveal"]["properties"]["fields"]["items"]["enum"]
                assert set(fields) == {"name", "email", "phone", "address"}

                # preview first: the phone number in the description is removed, and said so
                draft = copy.deepcopy(CAMERA)
                draft["description"] = f"New, with warranty. Call me on {PHONE}."
                assert "preview" in await refused(
                    session, "publish_intent", draft=draft, confirm_redactions=True
                )
                preview = await call(session, "preview_intent", draft=draft)
                assert preview["redactions"], preview
                assert "1234567" not in (preview["vendor_view"]["description"] or "")
                assert "invalid arguments" in await refused(
                    session, "preview_intent", draft={**draft, "quantity": "many"}
                )
                assert "confirm_redactions" in await refused(
                    session, "publish_intent", draft=draft, confirm_redactions=False
                )
                published = await call(
                    session, "publish_intent", draft=draft, confirm_redactions=True
                )
                intent = published["intent"]
                assert intent["redactions"] and intent["status"] == "open"
                assert "1234567" not in (intent["vendor_view"]["description"] or "")
                intent_id = intent["id"]
                listed_intents = await call(session, "list_intents")
                assert [i["id"] for i in listed_intents["intents"]] == [intent_id]

                # a vendor offers; the assistant sees and compares it
                await matched(vendor, intent_id)
                offer = await vendor.offers.create(
                    intent_id,
                    {
                        "price": {"amount": "1649.00", "currency": "EUR"},
                        "title": "A7 IV, new, 3y warranty",
                        "delivery_days": 2,
                        "terms": "14 days return",
                    },
                )
                offers = await call(session, "list_offers", intent_id=intent_id)
                assert [o["id"] for o in offers["offers"]] == [offer.id]
                compared = await call(session, "compare_offers", intent_id=intent_id)
                (row,) = compared["offers"]
                assert row["offer_id"] == offer.id and compared["cheapest"] == offer.id
                assert (row["price"], row["delivery_days"], row["terms"], row["status"]) == (
                    "1649.00",
                    2,
                    "14 days return",
                    "live",
                )
                assert compared["fastest"] == offer.id

                # the vendor asks in the relay; the assistant reads and answers
                thread = await vendor.threads.open(intent_id, "Which colour would you like?")
                threads = await call(session, "list_threads")
                assert [t["id"] for t in threads["threads"]] == [thread.id]
                read_back = await call(session, "read_thread", thread_id=thread.id)
                assert [m["body"] for m in read_back["thread"]["messages"]] == [
                    "Which colour would you like?"
                ]
                replied = await call(
                    session, "reply_in_thread", thread_id=thread.id, body=f"Black. {PHONE}"
                )
                assert "1234567" not in replied["message"]["shown_to_vendor"]
                seen_by_vendor = await vendor.threads.get(thread.id)
                assert [m.body for m in seen_by_vendor.messages][-1].startswith("Black.")
                assert "1234567" not in seen_by_vendor.messages[-1].body

                # pause and reopen
                paused = await call(session, "pause_intent", intent_id=intent_id)
                assert paused["intent"]["status"] == "paused"
                reopened = await call(session, "reopen_intent", intent_id=intent_id)
                assert reopened["intent"]["status"] == "open"

                # the assistant proposes the acceptance: a link, offered to the human
                proposal = await call(session, "propose_acceptance", offer_id=offer.id)
                confirm_url = f"{server.url}/intents/{intent_id}#offer-{offer.id}"
                assert proposal["accepted"] is False
                assert proposal["confirm_url"] == confirm_url
                assert proposal["human_response"] == "accept"
                (asked,) = elicited
                assert isinstance(asked, types.ElicitRequestURLParams)
                assert asked.url == confirm_url
                # ...and nothing was accepted, even though the human opened the link
                assert (await buyer.offers.get(offer.id)).status == "live"
                assert (await buyer.intents.get(intent_id)).status == "open"
                # nor could the agent's token accept or reveal, were it used directly
                with pytest.raises(Forbidden):
                    await agent.offers.accept(offer.id, version=offer.version)
                with pytest.raises(Forbidden):
                    await agent.intents.reveal(
                        intent_id, vendor_id=offer.vendor_id, fields=["email"]
                    )
                assert (await buyer.offers.get(offer.id)).status == "live"

                # a reveal is only proposed too
                reveal = await call(
                    session,
                    "propose_reveal",
                    intent_id=intent_id,
                    vendor_id=offer.vendor_id,
                    fields=["email"],
                )
                assert reveal["revealed"] is False and reveal["confirm_url"] == confirm_url
                assert [d async for d in buyer.buyer.disclosures()] == []

                # the human confirms on their own, with their own token
                # the human confirms on the page the link opens, signed in with their own
                # (full) token: the offer's card is there, with its "Accept version 1"
                async with httpx.AsyncClient(
                    base_url=server.url, timeout=30, follow_redirects=True
                ) as browser:
                    signin = await browser.get("/signin")
                    csrf = CSRF_INPUT.search(signin.text).group(1)
                    signed_in = await browser.post(
                        "/signin", data={"token": signed_up.token, "_csrf_token": csrf}
                    )
                    assert signed_in.status_code == 200, signed_in.text
                    page = await browser.get(confirm_url)
                    assert page.status_code == 200, page.text
                    assert f'id="offer-{offer.id}"' in page.text
                    assert "Accept version 1" in page.text
                    csrf = CSRF_INPUT.search(page.text).group(1)
                    confirmed = await browser.post(
                        f"/offers/{offer.id}/accept",
                        data={"_csrf_token": csrf, "version": "1", "intent_id": intent_id},
                    )
                    assert confirmed.status_code == 200, confirmed.text
                assert (await buyer.offers.get(offer.id)).status == "accepted"
                after = await call(session, "list_offers", intent_id=intent_id)
                assert [o["status"] for o in after["offers"]] == ["accepted"]
                assert "live offer" in await refused(
                    session, "propose_acceptance", offer_id=offer.id
                )

                # the server's refusals come back as tool errors with the problem's detail
                assert "404" in await refused(session, "get_intent", intent_id="int_nope")

        assert "full buyer token" not in errlog.read_text()


def start_http_mcp(server_url: str, token: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``intentcast mcp --transport http`` on ``port``, once it accepts connections."""
    argv = ["mcp", "--url", server_url, "--transport", "http", "--port", str(port)]
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "intentcast", *argv],
            env=os.environ | {"INTENTCAST_TOKEN": token},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.terminate()
    process.wait(15)
    raise AssertionError(f"intentcast mcp --transport http did not listen:\n{log.read_text()}")


async def test_streamable_http_transport(server: Server, tmp_path: Path) -> None:
    """``--transport http``: the same tools at ``/mcp``; an API refusal is a tool error; a
    full token is served, with a warning; a vendor's or an unknown token is refused."""
    async with AsyncClient(server.url, timeout=30) as anonymous:
        signed_up = await anonymous.accounts.create_buyer({"display_name": "bo"})
        vendor = await anonymous.accounts.create_vendor({"name": "Shop"})
    # a token that is not a buyer's, or no token the server knows, is refused at the start
    for token, says in ((vendor.token, "not a buyer's token"), ("icb_nope", "does not accept")):
        refused_start = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "intentcast", "mcp", "--url", server.url],
            env=os.environ | {"INTENTCAST_TOKEN": token},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused_start.returncode == 1, refused_start.stderr
        assert says in refused_start.stderr
    port = free_port()
    log = tmp_path / "mcp-http.log"
    process = await asyncio.to_thread(start_http_mcp, server.url, signed_up.token, port, log)
    try:
        async with (
            streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            assert {t.name for t in (await session.list_tools()).tools} == TOOLS
            assert (await call(session, "list_intents")) == {"intents": []}
            assert "404" in await refused(session, "list_offers", intent_id="int_nope")
            await call(session, "preview_intent", draft=CAMERA)
            published = await call(session, "publish_intent", draft=CAMERA, confirm_redactions=True)
            intent_id = published["intent"]["id"]
            withdrawn = await call(session, "withdraw_intent", intent_id=intent_id)
            assert withdrawn["intent"]["status"] == "withdrawn"
            got = await call(session, "get_intent", intent_id=intent_id)
            assert got["intent"]["status"] == "withdrawn"
            assert "409" in await refused(session, "reopen_intent", intent_id=intent_id)
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 15)
    # given the buyer's full token, intentcast mcp warns
    assert "warning: this is a full buyer token" in log.read_text()
