"""Logs and metrics of a real `intentcast serve` with ``INTENTCAST_LOG_FORMAT=json``: every
line any process writes is JSON; one intent's request id appears in the API's, the
matcher's and the delivery worker's lines; ``/metrics`` merges every process's domain
metrics; and after a whole deal (persona, a phone number in the intent, an offer, relay
messages, a reveal) no log line holds a token, a persona value, the intent's text or a
message body."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from contextlib import aclosing
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import LIVE_WITHIN_S, Server, free_port, next_event
from tests.helpers import CAMERA, create_buyer, create_vendor, feed, subscribe, wait_for
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

PERSONA = {
    "display_name": "gbh-observed",
    "email": "grace.hopper@example.org",
    "phone": "+49 170 7654321",
    "name": "Grace Brewster Hopper",
    "address": "Rosenheimer Str. 145, 81671 Muenchen",
    "country": "DE",
}
INTENT_PHONE = "+49 151 23456789"
DESCRIPTION = f"Mint condition only. Ring me on {INTENT_PHONE} after work, Hopper residence."
QUESTION = "Would the original battery grip suit you as well, at cost price?"
ANSWER = "Yes, bring it along, and ring +49 170 7654321 before you come"


def metric_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def read_metrics(http: httpx.AsyncClient) -> dict[Any, float]:
    response = await http.get("/metrics")
    assert response.status_code == 200
    return metric_values(response.text)


@pytest.fixture
def server(make_server) -> Server:
    srv = make_server(log_format="json", auto_verify_vendors="true", webhook_allow_loopback="true")
    srv.start()
    return srv


async def test_json_logs_follow_a_request_and_metrics_count_the_pipeline(server: Server) -> None:
    loop = asyncio.get_running_loop()
    request_id = f"obs-{uuid.uuid4().hex}"
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=30) as http,
        WebhookReceiver() as hook,
    ):
        vendor = await create_vendor(http, name="Optik Observa")
        await subscribe(http, vendor, categories=["electronics"])
        webhook = await http.post(
            "/v1/vendor/webhooks", json={"url": hook.url}, headers=vendor.headers
        )
        assert webhook.status_code == 201
        buyer = await create_buyer(http, **PERSONA)

        published = await http.post(
            "/v1/intents",
            json=CAMERA | {"description": DESCRIPTION},
            headers=buyer.headers | {"X-Request-ID": request_id},
        )
        assert published.status_code == 201, published.text
        assert published.headers["x-request-id"] == request_id
        intent = published.json()
        iid = intent["id"]
        (matched,) = await feed(http, vendor, at_least=1, within=20)
        await hook.wait_for(1, timeout=20)

        # a live SSE event (the SSE delivery lag), and the open stream counted
        async with (
            aconnect_sse(http, "GET", "/v1/vendor/stream", headers=vendor.headers) as source,
            aclosing(source.aiter_sse()) as events,
        ):
            first = await next_event(events, loop.time() + LIVE_WITHIN_S)
            assert first.id == str(matched["seq"])
            assert (await read_metrics(http))[
                ("intentcast_sse_connections", (("audience", "vendor"),))
            ] == 1
            live_until = loop.time() + LIVE_WITHIN_S
            patched = await http.patch(
                f"/v1/intents/{iid}", json={"title": "Sony A7 IV body"}, headers=buyer.headers
            )
            assert patched.status_code == 200
            live = await next_event(events, live_until)
            assert live.event == "intent.updated"

        # the rest of a deal: offer, relay messages, a reveal the vendor reads
        offer = await http.post(
            f"/v1/intents/{iid}/offers",
            headers=vendor.headers,
            json={"price": {"amount": "1649.00", "currency": "EUR"}, "title": "A7 IV, new"},
        )
        assert offer.status_code == 201, offer.text
        thread = await http.post(
            f"/v1/intents/{iid}/threads", headers=vendor.headers, json={"body": QUESTION}
        )
        assert thread.status_code == 201, thread.text
        answer = await http.post(
            f"/v1/threads/{thread.json()['id']}/messages",
            headers=buyer.headers,
            json={"body": ANSWER},
        )
        assert answer.status_code == 201, answer.text
        reveal = await http.post(
            f"/v1/intents/{iid}/reveals",
            headers=buyer.headers,
            json={"vendor_id": vendor.id, "fields": ["email", "phone", "name", "address"]},
        )
        assert reveal.status_code == 201, reveal.text
        path = f"/v1/vendor/reveals/{reveal.json()['id']}"
        assert (await http.post(path + "/accept-terms", headers=vendor.headers)).status_code == 200
        revealed = await http.get(path, headers=vendor.headers)
        assert revealed.json()["fields"]["email"] == PERSONA["email"]
        await hook.wait_for(3, timeout=20)  # matched, updated, offer/relay events

        # every process's metrics, merged at the API's /metrics
        def counted(values: dict[Any, float]) -> bool:
            def value(name: str, **labels: str) -> float:
                return values.get((name, tuple(sorted(labels.items()))), 0.0)

            return (
                value("intentcast_intents_published_total") >= 1  # the API process
                and value("intentcast_matches_total") >= 1  # the matcher
                and value("intentcast_match_latency_seconds_count") >= 1
                and value("intentcast_delivery_lag_seconds_count", channel="feed") >= 1
                and value("intentcast_delivery_lag_seconds_count", channel="sse") >= 1
                and value("intentcast_delivery_lag_seconds_count", channel="webhook") >= 1
                and value("intentcast_webhook_attempts_total", outcome="delivered") >= 3
                and (
                    value(
                        "intentcast_requests_total",
                        method="POST",
                        path="/v1/intents",
                        status_code="201",
                    )
                    >= 1
                )
                # sampled by the scheduler: present once it has run
                and ("intentcast_stream_backlog", (("stream", "ic:work"),)) in values
                and ("intentcast_outbox_backlog", ()) in values
            )

        async def merged() -> dict[Any, float] | None:
            values = await read_metrics(http)
            return values if counted(values) else None

        values = await wait_for(merged, within=20, interval=0.5)
        assert values[("intentcast_match_latency_seconds_sum", ())] > 0
        assert values[("intentcast_sse_connections", (("audience", "vendor"),))] == 0  # closed

    token_file = server.data_dir / "operator-token"
    operator_token = token_file.read_text().strip()
    webhook_secret = webhook.json()["secret"]
    server.stop()
    output = server.log.read_text()

    lines = [line for line in output.splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}")
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)

    # one request, followed from the API to the workers
    ours = [r for r in records if r.get("request_id") == request_id]
    by_process = {r.get("process") for r in ours}
    assert {"api", "worker:matcher", "worker:delivery"} <= by_process, ours
    (access,) = [r for r in ours if r["logger"] == "intentcast.access"]
    assert access["path"] == "/v1/intents" and access["status"] == 201
    (matcher,) = [r for r in ours if r["process"] == "worker:matcher"]
    assert matcher["aggregate_id"] == iid and matcher["matches"] == 1
    assert any(r["process"] == "worker:delivery" and r.get("outcome") == "delivered" for r in ours)
    # granian's own lines are JSON too
    assert any(r["logger"].startswith("_granian") for r in records)

    # nothing secret in any line
    secrets = {
        "buyer token": buyer.token,
        "vendor token": vendor.token,
        "operator token": operator_token,
        "webhook secret": webhook_secret,
        "webhook secret key": webhook_secret.removeprefix("whsec_"),
        "intent text": DESCRIPTION,
        "intent phone": INTENT_PHONE,
        "intent phone digits": "23456789",
        "relay question": QUESTION,
        "relay answer": ANSWER,
        **{f"persona {k}": v for k, v in PERSONA.items() if k != "country"},
        "persona phone digits": "7654321",
        "persona surname": "Hopper",
    }
    leaked = {name for name, value in secrets.items() if value in output}
    assert not leaked, leaked


def test_a_worker_on_its_own_serves_metrics_and_health(server: Server, tmp_path) -> None:
    """``intentcast worker --metrics-port`` (what a separate deployment probes and scrapes):
    ``/health`` answers 200 while the worker loop runs, ``/metrics`` its own metrics."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENTCAST_")}
    env |= {
        "INTENTCAST_DATABASE_URL": server.postgres_url,
        "INTENTCAST_REDIS_URL": server.redis_url,
        "INTENTCAST_LOG_FORMAT": "json",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "intentcast", "worker", "--role=matcher", f"--metrics-port={port}"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            assert worker.poll() is None, log.read_text()
            try:
                health = httpx.get(base + "/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        assert health.status_code == 200
        metrics = httpx.get(base + "/metrics", timeout=2)
        assert metrics.status_code == 200
        assert "# TYPE intentcast_matches_total counter" in metrics.text
    finally:
        worker.terminate()
        code = worker.wait(20)
    assert code == 0, log.read_text()
    assert all(json.loads(line) for line in log.read_text().splitlines() if line.strip())


def test_intentcast_api_merges_its_web_workers_metrics(tmp_path) -> None:
    """``intentcast api`` on its own with two granian workers (forked from it): each counts
    into ``<data dir>/metrics/api-<port>``, and ``/metrics`` shows their sum."""
    port = free_port()
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENTCAST_")}
    env |= {
        "INTENTCAST_DATA_DIR": str(data_dir),
        "INTENTCAST_PORT": str(port),
        "INTENTCAST_WEB_WORKERS": "2",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "api.log"
    api = subprocess.Popen(
        [sys.executable, "-m", "intentcast", "api"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert api.poll() is None, log.read_text()
            try:
                if httpx.get(base + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        for _ in range(20):  # a connection each: both workers take some
            assert httpx.get(base + "/v1/categories", timeout=5).status_code == 200
        values = metric_values(httpx.get(base + "/metrics", timeout=5).text)
    finally:
        api.terminate()
        code = api.wait(30)
    assert code == 0, log.read_text()
    key = (
        "intentcast_requests_total",
        (("method", "GET"), ("path", "/v1/categories"), ("status_code", "200")),
    )
    assert values[key] == 20
    pids = {f.stem.rsplit("_", 1)[1] for f in (data_dir / "metrics" / f"api-{port}").glob("*.db")}
    assert len(pids) >= 2  # one set of files per web worker
