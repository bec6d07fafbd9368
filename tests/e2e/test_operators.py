"""Operators against a real ``intentcast serve`` (no auto-verify): a vendor signs up, an
operator verifies it with the CLI, the vendor subscribes and receives a match; an operator
suspends it over the API and its open SSE stream ends within seconds."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
from httpx_sse import aconnect_sse

from tests.e2e.conftest import LIVE_WITHIN_S, embedded_env, next_event
from tests.helpers import CAMERA, bearer

SUSPENSION_CLOSES_WITHIN_S = 5.0
OPERATOR_USER = {"USER": "ops-alice", "LOGNAME": "ops-alice"}
"""The operating-system user the CLI's audit entries name."""


def intentcast(server, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI, configured as the running server is (same data dir)."""
    return subprocess.run(
        [sys.executable, "-m", "intentcast", *args],
        env=embedded_env(server.data_dir, server.port) | OPERATOR_USER,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_cli_verification_then_a_match_then_suspension_closes_the_stream(make_server):
    server = make_server()
    server.start()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        signup = await http.post("/v1/vendors", json={"name": "Kamera Huber"})
        assert signup.status_code == 201, signup.text
        vendor_id = signup.json()["vendor"]["id"]
        vendor = bearer(signup.json()["token"])
        assert signup.json()["vendor"]["status"] == "pending"

        # pending: it may set up a subscription already, but gets no match
        subscription = await http.post(
            "/v1/subscriptions",
            json={"categories": ["electronics/cameras"]},
            headers=vendor,
        )
        assert subscription.status_code == 201, subscription.text

        queue = intentcast(server, "operator", "vendors", "list", "--status", "pending")
        assert queue.returncode == 0, queue.stderr
        assert vendor_id in queue.stdout and "Kamera Huber" in queue.stdout
        verified = intentcast(server, "operator", "vendors", "verify", vendor_id, "--json")
        assert verified.returncode == 0, verified.stderr
        assert '"status": "verified"' in verified.stdout
        again = intentcast(server, "operator", "vendors", "verify", vendor_id)
        assert again.returncode == 1 and "only a pending vendor" in again.stderr

        buyer = await http.post("/v1/buyers", json={"display_name": "ada"})
        buyer_headers = bearer(buyer.json()["token"])
        operator = intentcast(server, "operator", "create-token", "--name", "alice")
        assert operator.returncode == 0, operator.stderr
        operator_headers = bearer(operator.stdout.strip().splitlines()[-1])

        async with aconnect_sse(http, "GET", "/v1/vendor/stream", headers=vendor) as source:
            events = source.aiter_sse()
            intent = await http.post("/v1/intents", json=CAMERA, headers=buyer_headers)
            assert intent.status_code == 201, intent.text
            loop = asyncio.get_running_loop()
            matched = await next_event(events, loop.time() + LIVE_WITHIN_S, event="intent.matched")
            assert intent.json()["id"] in matched.data

            suspended = await http.post(
                f"/v1/admin/vendors/{vendor_id}/suspend",
                json={"reason": "Counterfeit listings"},
                headers=operator_headers,
            )
            assert suspended.status_code == 200, suspended.text
            asked = loop.time()
            async with asyncio.timeout(SUSPENSION_CLOSES_WITHIN_S):
                async for _ in events:  # whatever is still in flight, then the end
                    pass
            assert loop.time() - asked < SUSPENSION_CLOSES_WITHIN_S

        refused = await http.get("/v1/vendor/stream", headers=vendor)
        assert refused.status_code == 403 and refused.json()["code"] == "vendor-suspended"
        audit = await http.get(
            "/v1/admin/audit", params={"target": vendor_id}, headers=operator_headers
        )
        assert audit.status_code == 200, (audit.text, operator.stdout)
        actions = [(e["action"], e["actor"]) for e in audit.json()["items"]]
        assert actions[0] == ("vendor.verify", "cli:ops-alice")
        assert actions[1][0] == "vendor.suspend" and actions[1][1].startswith("opr_")
