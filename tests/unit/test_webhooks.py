"""Webhook delivery: URL rules, the resolve-time SSRF guard, Standard Webhooks signatures,
the retry schedule, and real attempts against a loopback receiver (no other traffic)."""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from intentcast.delivery.webhooks import (
    CONNECTION_FAILED,
    MAX_DELAY_S,
    NOT_ALLOWED,
    RETRY_SCHEDULE_S,
    TIMED_OUT,
    USER_AGENT,
    AttemptResult,
    Outcome,
    ResolutionFailed,
    UnsafeDestination,
    address_problem,
    check_url,
    classify_status,
    new_secret,
    next_delay,
    parse_retry_after,
    resolve_checked,
    send,
    sign,
)
from intentcast.domain.errors import RuleViolation
from intentcast.domain.webhooks import (
    DEFAULT_GRACE_PERIOD_S,
    MAX_GRACE_PERIOD_S,
    disable_due,
    disabled_event_data,
    disabled_reason,
    previous_secret_expiry,
    sample_event_data,
    signs_with_previous,
)
from tests.webhook_receiver import WebhookReceiver

# --- check_url ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/hook", "https://example.com/hook"),
        ("https://hooks.example.com/v1/in?token=abc", "https://hooks.example.com/v1/in?token=abc"),
        ("HTTPS://Hooks.Example.COM:443/a?b=1#frag", "https://hooks.example.com/a?b=1"),
        ("https://hooks.example.com:8443", "https://hooks.example.com:8443/"),
        ("https://example.com./x", "https://example.com/x"),
        ("  https://example.com/x  ", "https://example.com/x"),
        ("https://bücher.example/x", "https://xn--bcher-kva.example/x"),
        ("https://93.184.216.34/x", "https://93.184.216.34/x"),
        ("https://[2606:4700:0::1111]:8443/x", "https://[2606:4700::1111]:8443/x"),
        ("https://my_service.example.org/x", "https://my_service.example.org/x"),
    ],
)
def test_check_url_accepts_public_https(url: str, expected: str) -> None:
    assert check_url(url, allow_loopback=False) == expected
    assert check_url(url, allow_loopback=True) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080/hook", "http://127.0.0.1:8080/hook"),
        ("http://127.8.9.10:8080/hook", "http://127.8.9.10:8080/hook"),
        ("http://localhost:9000/x", "http://localhost:9000/x"),
        ("http://LOCALHOST:80", "http://localhost/"),
        ("http://[::1]:8080/", "http://[::1]:8080/"),
        ("http://[::ffff:127.0.0.1]:8080/", "http://[::ffff:7f00:1]:8080/"),
        ("https://localhost/x", "https://localhost/x"),
        ("https://127.0.0.1/x", "https://127.0.0.1/x"),
    ],
)
def test_check_url_accepts_loopback_only_when_allowed(url: str, expected: str) -> None:
    assert check_url(url, allow_loopback=True) == expected
    with pytest.raises(RuleViolation):
        check_url(url, allow_loopback=False)


REFUSED = [
    # scheme
    ("http://example.com/hook", "https"),
    ("ftp://example.com/hook", "https"),
    ("ws://example.com/hook", "https"),
    ("file:///etc/passwd", "https"),
    ("example.com/hook", "https"),
    # userinfo, host, shape
    ("https://user:pass@example.com/", "credentials"),
    ("https://user@example.com/", "credentials"),
    ("https://:@example.com/", "credentials"),
    ("https:///hook", "host"),
    ("https://", "host"),
    ("", "required"),
    ("https://exa mple.com/", "whitespace"),
    ("https://example.com/a\nb", "whitespace"),
    ("https://example.com\\@evil.com/", "whitespace"),
    ("https://example.com:99999/", "not a valid URL"),
    ("https://example.com:0/", "port 0"),
    ("https://" + "a" * 64 + ".example.com/", "not a valid host name"),
    ("https://exa!mple.com/", "not a valid host name"),
    ("https://example.com/" + "x" * 2000, "at most 2000"),
    ("https://[fe80::1%25eth0]/", "%"),
    # private, link-local, metadata, CGNAT, special-purpose literals
    ("https://10.0.0.1/", "private"),
    ("https://172.16.5.4/", "private"),
    ("https://192.168.1.1/", "private"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://169.254.1.1/", "link-local"),
    ("https://100.64.0.1/", "carrier-grade"),
    ("https://100.127.255.254/", "carrier-grade"),
    ("https://0.0.0.0/", "unspecified"),
    ("https://224.0.0.1/", "multicast"),
    ("https://240.0.0.1/", "reserved"),
    ("https://[64:ff9b::a00:1]/", "reserved"),
    ("https://[::7f00:1]/", "reserved"),
    ("https://192.0.2.10/", "documentation"),
    ("https://[::]/", "unspecified"),
    ("https://[fd00::1]/", "private"),
    ("https://[fd00:ec2::254]/", "private"),
    ("https://[fc00::1]/", "private"),
    ("https://[fe80::1]/", "link-local"),
    ("https://[ff02::1]/", "multicast"),
    ("https://[::ffff:10.0.0.1]/", "IPv4-mapped"),
    ("https://[::ffff:169.254.169.254]/", "link-local"),
    ("https://[::ffff:100.64.0.1]/", "carrier-grade"),
    ("https://[2002:a00:1::1]/", "6to4"),
    ("https://[2001:db8::1]/", "documentation"),
    # IANA special-purpose blocks that Python 3.11's ipaddress calls global
    ("https://192.0.0.192/", "IETF protocol assignment"),  # Oracle Cloud metadata
    ("https://192.0.0.9/", "IETF protocol assignment"),
    ("https://192.88.99.1/", "6to4 relay"),
    ("https://192.31.196.1/", "AS112"),
    ("https://192.52.193.1/", "AMT"),
    ("https://192.175.48.1/", "AS112"),
    ("https://198.18.0.1/", "benchmarking"),
    ("https://198.19.255.254/", "benchmarking"),
    ("https://168.63.129.16/", "cloud provider"),
    ("https://[::ffff:192.0.0.192]/", "IPv4-mapped"),
    ("https://[2002:808:808::1]/", "6to4"),  # 6to4 even around a public address
    ("https://[64:ff9b:1::808:808]/", "NAT64"),
    ("https://[2620:4f:8000::1]/", "AS112"),
    ("https://[3fff::1]/", "documentation"),
    ("https://[5f00::1]/", "SRv6"),
    ("https://[2001:1::1]/", "IETF protocol assignment"),
    ("https://[100::1]/", "discard"),
    ("https://[4000::1]/", "2000::/3"),
    # obscure numeric forms of 127.0.0.1 and friends
    ("https://2130706433/", "standard form"),
    ("https://0x7f.0.0.1/", "standard form"),
    ("https://127.1/", "standard form"),
    ("https://017700000001/", "standard form"),
    ("https://010.0.0.1/", "standard form"),
    # local names
    ("https://localhost/", "localhost"),
    ("https://foo.localhost/", "local or internal"),
    ("https://metadata.google.internal/computeMetadata/v1/", "local or internal"),
    ("https://printer.local/", "local or internal"),
    ("https://router.home.arpa/", "local or internal"),
    ("https://intranet/", "fully qualified"),
    # loopback without permission
    ("https://127.0.0.1/", "loopback"),
    ("https://[::1]/", "loopback"),
    ("https://[::ffff:127.0.0.1]/", "loopback"),
    ("http://127.0.0.1:8080/", "https"),
    ("http://localhost:8080/", "https"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_check_url_refuses(url: str, reason: str) -> None:
    with pytest.raises(RuleViolation) as info:
        check_url(url, allow_loopback=False)
    assert info.value.field == "url"
    assert reason.lower() in info.value.message.lower()


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "http://10.0.0.1/",
        "http://foo.localhost/",
        "https://foo.localhost/",
        "https://169.254.169.254/",
        "https://[::ffff:10.0.0.1]/",
        "https://user:pw@localhost/",
        "ftp://127.0.0.1/",
        "https://0.0.0.0/",
    ],
)
def test_allow_loopback_does_not_open_anything_else(url: str) -> None:
    with pytest.raises(RuleViolation):
        check_url(url, allow_loopback=True)


def test_check_url_rejects_non_strings() -> None:
    with pytest.raises(RuleViolation):
        check_url(None, allow_loopback=False)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.216.34", True),
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("::ffff:192.168.0.1", False),
        ("fd12:3456::1", False),
        ("192.0.0.192", False),
        ("192.0.0.1", False),
        ("192.0.0.255", False),
        ("192.88.99.1", False),
        ("192.0.1.1", True),  # just outside 192.0.0.0/24
        ("192.88.100.1", True),  # just outside 192.88.99.0/24
        ("198.20.0.1", True),  # just outside 198.18.0.0/15
        ("100.128.0.1", True),  # just outside 100.64.0.0/10
        ("2a00:1450:4001::1", True),
    ],
)
def test_address_problem(address: str, allowed: bool) -> None:
    assert (address_problem(address, allow_loopback=False) is None) is allowed


SPECIAL_PURPOSE = [
    # IPv4 (IANA special-purpose registry, multicast, class E) ...
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.31.196.0/24",
    "192.52.193.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "192.175.48.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    # ... and IPv6
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/23",
    "2001::/32",
    "2001:db8::/32",
    "2002::/16",
    "2620:4f:8000::/48",
    "3fff::/20",
    "5f00::/16",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
]


@pytest.mark.parametrize("network", SPECIAL_PURPOSE)
def test_every_special_purpose_block_is_refused_at_both_ends(network: str) -> None:
    """An explicit list, not the running Python's is_global: first and last address of
    every block of the IANA special-purpose registries are refused."""
    net = ipaddress.ip_network(network)
    for address in (net[0], net[-1], net[len(SPECIAL_PURPOSE) % net.num_addresses]):
        assert address_problem(address, allow_loopback=False) is not None, address


@pytest.mark.parametrize("address", ["192.0.0.192", "192.88.99.1", "192.0.0.9", "192.52.193.1"])
def test_blocks_python_calls_global_are_still_refused(address: str) -> None:
    assert ipaddress.ip_address(address).is_global  # the stdlib would have let it through
    assert address_problem(address, allow_loopback=False) is not None
    assert address_problem(address, allow_loopback=True) is not None


# --- resolve_checked ------------------------------------------------------------------------


def fake_resolver(*answers: str, calls: list[tuple[str, int]] | None = None):
    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append((host, port))
        return list(answers)

    return resolve


async def test_resolve_checked_public_answers_pass() -> None:
    calls: list[tuple[str, int]] = []
    resolver = fake_resolver("93.184.216.34", "2606:2800:220:1:0::1", "93.184.216.34", calls=calls)
    addresses = await resolve_checked(
        "hooks.example.com", 443, allow_loopback=False, resolver=resolver
    )
    assert addresses == ["93.184.216.34", "2606:2800:220:1::1"]
    assert calls == [("hooks.example.com", 443)]


@pytest.mark.parametrize(
    "answers",
    [
        ["10.0.0.5"],
        ["169.254.169.254"],
        ["100.64.1.1"],
        ["fd00::5"],
        ["fe80::1%eth0"],
        ["::ffff:169.254.169.254"],
        ["192.0.0.192"],  # Oracle Cloud metadata, "global" to Python 3.11
        ["192.88.99.1"],
        ["198.18.0.1"],
        ["127.0.0.1"],
        ["0.0.0.0"],  # noqa: S104
        ["93.184.216.34", "10.0.0.5"],  # mixed: one bad answer refuses the whole name
        ["10.0.0.5", "93.184.216.34"],
        ["not-an-ip"],
    ],
)
async def test_resolve_checked_refuses_any_unsafe_answer(answers: list[str]) -> None:
    with pytest.raises(UnsafeDestination) as info:
        await resolve_checked(
            "rebind.example.com", 443, allow_loopback=False, resolver=fake_resolver(*answers)
        )
    assert info.value.host == "rebind.example.com"
    assert "refused" in str(info.value)


async def test_resolve_checked_loopback_only_when_allowed() -> None:
    resolver = fake_resolver("127.0.0.1", "::1")
    assert await resolve_checked("localhost", 80, allow_loopback=True, resolver=resolver) == [
        "127.0.0.1",
        "::1",
    ]
    with pytest.raises(UnsafeDestination, match="loopback"):
        await resolve_checked("localhost", 80, allow_loopback=False, resolver=resolver)
    with pytest.raises(UnsafeDestination, match="private"):
        await resolve_checked(
            "x.example.com", 80, allow_loopback=True, resolver=fake_resolver("::1", "10.0.0.1")
        )


async def test_resolve_checked_literal_skips_the_resolver() -> None:
    async def must_not_resolve(host: str, port: int) -> list[str]:
        raise AssertionError("resolver called for a literal")

    assert await resolve_checked(
        "93.184.216.34", 443, allow_loopback=False, resolver=must_not_resolve
    ) == ["93.184.216.34"]
    assert await resolve_checked("[::1]", 80, allow_loopback=True, resolver=must_not_resolve) == [
        "::1"
    ]
    with pytest.raises(UnsafeDestination):
        await resolve_checked("10.0.0.1", 443, allow_loopback=True, resolver=must_not_resolve)


async def test_resolve_checked_empty_answer_is_a_resolution_failure() -> None:
    with pytest.raises(ResolutionFailed):
        await resolve_checked("x.example.com", 443, allow_loopback=False, resolver=fake_resolver())


# --- secrets and signatures ----------------------------------------------------------------


def test_new_secret_format() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 24
    assert new_secret() != secret
    Webhook(secret)  # the package accepts it


def test_signature_verifies_and_detects_tampering() -> None:
    secret = new_secret()
    payload = json.dumps({"type": "intent.matched", "data": {"id": "int_1", "t": "ü"}}).encode()
    now = datetime.now(UTC)
    headers = sign(secret, "evt_123", now, payload)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "evt_123"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(payload, headers) == json.loads(payload)

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(payload.replace(b"int_1", b"int_2"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(payload, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(payload, {**headers, "webhook-id": "evt_124"})


def test_during_a_rotation_either_secret_verifies_and_no_other() -> None:
    current, previous = new_secret(), new_secret()
    payload = b'{"type":"intent.matched","seq":1}'
    headers = sign(current, "evt_9", datetime.now(UTC), payload, previous_secret=previous)
    first, second = headers["webhook-signature"].split(" ")
    assert first == sign(current, "evt_9", datetime.now(UTC), payload)["webhook-signature"]
    assert second.startswith("v1,") and second != first
    assert Webhook(current).verify(payload, headers) == json.loads(payload)
    assert Webhook(previous).verify(payload, headers) == json.loads(payload)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(payload, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(previous).verify(payload.replace(b"1", b"2"), headers)
    # without a previous secret (or the same one twice): one signature
    assert " " not in sign(current, "evt_9", datetime.now(UTC), payload)["webhook-signature"]
    same = sign(current, "evt_9", datetime.now(UTC), payload, previous_secret=current)
    assert " " not in same["webhook-signature"]


def test_rotation_rules() -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    assert previous_secret_expiry(now, DEFAULT_GRACE_PERIOD_S) == now + timedelta(hours=24)
    assert previous_secret_expiry(now, 0) is None
    assert previous_secret_expiry(now, MAX_GRACE_PERIOD_S) == now + timedelta(days=7)
    for bad in (-1, MAX_GRACE_PERIOD_S + 1):
        with pytest.raises(ValueError):
            previous_secret_expiry(now, bad)
    expires = now + timedelta(hours=1)
    assert signs_with_previous(expires, now)
    assert not signs_with_previous(expires, expires)
    assert not signs_with_previous(None, now)


def test_disable_due_needs_failures_spanning_the_days() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    days = timedelta(days=1)

    def due(span: timedelta | None, after_days: int = 5) -> bool:
        return disable_due(
            failing_since=None if span is None else start,
            last_failure_at=None if span is None else start + span,
            after_days=after_days,
        )

    assert due(5 * days)
    assert due(9 * days)
    assert not due(5 * days - timedelta(seconds=1))
    assert not due(None)  # not failing
    assert not due(9 * days, after_days=0)  # 0: never
    assert due(days, after_days=1)
    # one failure long ago, nothing since: not "failing for days"
    assert not due(timedelta(0))


@given(
    first=st.integers(min_value=0, max_value=10**9),
    span=st.integers(min_value=0, max_value=10**8),
    after_days=st.integers(min_value=0, max_value=365),
)
def test_disable_due_property(first: int, span: int, after_days: int) -> None:
    failing_since = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=first)
    last = failing_since + timedelta(seconds=span)
    expected = after_days > 0 and span >= after_days * 86400
    assert disable_due(
        failing_since=failing_since, last_failure_at=last, after_days=after_days
    ) is (expected)


def test_disabled_reason_and_event_data() -> None:
    assert disabled_reason(5) == "every delivery failed for 5 days"
    assert disabled_reason(1) == "every delivery failed for 1 day"
    since = datetime(2026, 11, 1, tzinfo=UTC)
    data = disabled_event_data(
        webhook_id="whk_1", url="https://x.example", reason="r", failing_since=since
    )
    assert data == {
        "webhook": {
            "id": "whk_1",
            "url": "https://x.example",
            "status": "disabled",
            "disabled_reason": "r",
            "failing_since": "2026-11-01T00:00:00+00:00",
        }
    }
    sample = sample_event_data(webhook_id="whk_1")
    assert sample["test"] is True and sample["webhook_id"] == "whk_1" and "intent" not in sample


def test_signature_timestamp_is_utc_whatever_the_zone() -> None:
    secret = new_secret()
    payload = b'{"a":1}'
    now = datetime.now(UTC).replace(microsecond=0)
    in_berlin = now.astimezone(timezone(timedelta(hours=2)))
    naive_utc = now.replace(tzinfo=None)
    expected = sign(secret, "m", now, payload)
    assert sign(secret, "m", in_berlin, payload) == expected
    assert sign(secret, "m", naive_utc, payload) == expected
    Webhook(secret).verify(payload, sign(secret, "m", in_berlin, payload))


# --- retry policy ----------------------------------------------------------------------------


def test_schedule_spans_about_a_day() -> None:
    assert 20 * 3600 <= sum(RETRY_SCHEDULE_S) <= 25 * 3600
    assert list(RETRY_SCHEDULE_S) == sorted(RETRY_SCHEDULE_S)
    assert RETRY_SCHEDULE_S[0] <= 10


def test_next_delay_bounds_jitter_and_exhaustion() -> None:
    rng = random.Random(7)
    for attempt, base in enumerate(RETRY_SCHEDULE_S, start=1):
        delays = [next_delay(attempt, rng=rng) for _ in range(200)]
        assert all(d is not None and base * 0.8 <= d <= base * 1.2 for d in delays)
        assert len(set(delays)) > 100  # actually jittered
        assert min(delays) < base < max(delays)
    assert next_delay(len(RETRY_SCHEDULE_S) + 1) is None
    assert next_delay(100, retry_after=5) is None
    with pytest.raises(ValueError):
        next_delay(0)


def test_next_delay_is_deterministic_with_a_seeded_rng() -> None:
    first = [next_delay(a, rng=random.Random(1)) for a in range(1, 5)]
    assert first == [next_delay(a, rng=random.Random(1)) for a in range(1, 5)]


def test_next_delay_honours_retry_after() -> None:
    assert next_delay(1, retry_after=120) == 120
    assert 4 <= next_delay(1, retry_after=0.5) <= 6  # a shorter ask keeps the schedule
    assert next_delay(3, retry_after=10**7) == MAX_DELAY_S  # capped at a day


@given(
    attempt=st.integers(min_value=1, max_value=len(RETRY_SCHEDULE_S)),
    retry_after=st.none() | st.floats(min_value=0, max_value=1e9),
    seed=st.integers(),
)
def test_next_delay_property(attempt: int, retry_after: float | None, seed: int) -> None:
    delay = next_delay(attempt, rng=random.Random(seed), retry_after=retry_after)
    assert delay is not None
    assert 0 < delay <= MAX_DELAY_S
    assert delay >= RETRY_SCHEDULE_S[attempt - 1] * 0.8
    if retry_after is not None:
        assert delay >= min(retry_after, MAX_DELAY_S)


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after(" 0 ") == 0
    assert parse_retry_after(format_datetime(now + timedelta(minutes=5), usegmt=True), now=now) == (
        300
    )
    assert parse_retry_after(format_datetime(now - timedelta(minutes=5), usegmt=True), now=now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (202, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (301, Outcome.FAILED),
        (400, Outcome.FAILED),
        (401, Outcome.FAILED),
        (404, Outcome.FAILED),
        (408, Outcome.RETRY),
        (410, Outcome.GONE),
        (413, Outcome.FAILED),
        (425, Outcome.RETRY),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (502, Outcome.RETRY),
        (503, Outcome.RETRY),
        (599, Outcome.RETRY),
    ],
)
def test_classify_status(status: int, outcome: Outcome) -> None:
    assert classify_status(status) is outcome


def test_outcome_is_a_string_enum() -> None:
    assert Outcome("gone") is Outcome.GONE
    assert Outcome.DELIVERED == "delivered"


# --- send against a real loopback receiver -----------------------------------------------------

PAYLOAD = json.dumps(
    {"id": "evt_1", "type": "intent.matched", "data": {"intent_id": "int_1"}},
    separators=(",", ":"),
).encode()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as http:
        yield http


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as started:
        yield started


async def deliver(client: httpx.AsyncClient, url: str, secret: str, **kwargs) -> AttemptResult:
    kwargs.setdefault("allow_loopback", True)
    kwargs.setdefault("msg_id", "evt_1")
    return await send(client, url=url, secret=secret, payload=PAYLOAD, **kwargs)


async def test_send_delivered_with_verifiable_signature(
    client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    secret = new_secret()
    result = await deliver(client, receiver.url, secret)
    assert result.outcome is Outcome.DELIVERED
    assert result.status_code == 204
    assert result.error is None
    assert result.response_excerpt is None
    assert result.duration_ms > 0

    [(headers, body, _received_at)] = await receiver.wait_for(1, timeout=5)
    assert body == PAYLOAD
    assert receiver.request_lines == [("POST", "/hook")]
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == USER_AGENT
    assert headers["host"] == f"127.0.0.1:{receiver.port}"
    assert headers["webhook-id"] == "evt_1"
    assert Webhook(secret).verify(body, headers) == json.loads(PAYLOAD)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)


async def test_send_keeps_a_short_response_excerpt(
    client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    receiver.responses.append((200, {"content-type": "text/plain"}, 0.0, b"ok " * 400))
    result = await deliver(client, receiver.url, new_secret())
    assert result.outcome is Outcome.DELIVERED
    assert result.status_code == 200
    assert result.response_excerpt == ("ok " * 400)[:500]


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (202, Outcome.DELIVERED),
        (500, Outcome.RETRY),
        (502, Outcome.RETRY),
        (408, Outcome.RETRY),
        (425, Outcome.RETRY),
        (410, Outcome.GONE),
        (404, Outcome.FAILED),
        (400, Outcome.FAILED),
        (401, Outcome.FAILED),
    ],
)
async def test_send_classifies_status(
    client: httpx.AsyncClient, receiver: WebhookReceiver, status: int, outcome: Outcome
) -> None:
    receiver.responses.append((status, {}, 0.0, b'{"error":"nope"}'))
    result = await deliver(client, receiver.url, new_secret())
    assert result.outcome is outcome
    assert result.status_code == status
    assert result.retry_after is None
    if outcome is Outcome.DELIVERED:
        assert result.error is None
    else:
        assert str(status) in (result.error or "")
        assert result.response_excerpt == '{"error":"nope"}'
    assert len(receiver.requests) == 1


async def test_send_status_errors_are_only_the_status(
    client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    receiver.responses.append((500, {}, 0.0, b"internal detail"))
    result = await deliver(client, receiver.url, new_secret())
    assert result.error == "HTTP 500"
    assert result.detail is not None and "HTTP 500" in result.detail


async def test_failure_reasons_never_hold_the_url_path_query_or_secret(
    client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    """``detail`` goes to the server log: never the vendor's token in the URL, nor the
    signing secret."""
    secret = new_secret()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    receiver.responses.append((503, {}, 0.0))
    urls = [
        f"{receiver.url}/tok-path?token=tok-query",
        f"http://127.0.0.1:{closed}/tok-path?token=tok-query",
        "https://hooks.example.com/tok-path?token=tok-query",
    ]
    results = [
        await deliver(client, urls[0], secret),
        await deliver(client, urls[1], secret, timeout=5),
        await deliver(client, urls[2], secret, resolver=fake_resolver("10.0.0.1")),
    ]
    assert [r.error for r in results] == ["HTTP 503", CONNECTION_FAILED, NOT_ALLOWED]
    for result in results:
        text = f"{result.error} {result.detail}"
        assert "tok-" not in text and secret not in text and secret[6:] not in text


async def test_send_429_carries_retry_after(
    client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    receiver.responses.append((429, {"Retry-After": "120"}, 0.0))
    result = await deliver(client, receiver.url, new_secret())
    assert result.outcome is Outcome.RETRY
    assert result.status_code == 429
    assert result.retry_after == 120
    delay = next_delay(1, retry_after=result.retry_after)
    assert delay is not None and delay >= 120


async def test_send_503_with_http_date_retry_after(
    client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    later = datetime.now(UTC) + timedelta(minutes=10)
    receiver.responses.append((503, {"Retry-After": format_datetime(later, usegmt=True)}, 0.0))
    result = await deliver(client, receiver.url, new_secret())
    assert result.outcome is Outcome.RETRY
    assert result.retry_after is not None and 590 <= result.retry_after <= 600


async def test_send_does_not_follow_redirects(
    client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    elsewhere = f"http://127.0.0.1:{receiver.port}/elsewhere"
    receiver.responses.append((302, {"Location": elsewhere}, 0.0))
    result = await deliver(client, receiver.url, new_secret())
    assert result.outcome is Outcome.FAILED
    assert result.status_code == 302
    assert result.error == "HTTP 302 (redirects are not followed)"
    assert "elsewhere" not in (result.detail or "")  # only the redirect's host is logged
    # send() has returned: had it followed the redirect, the receiver would have it already
    assert receiver.request_lines == [("POST", "/hook")]


async def test_send_times_out_on_a_slow_receiver(
    client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    receiver.responses.append((204, {}, 3.0))
    result = await deliver(client, receiver.url, new_secret(), timeout=0.3)
    assert result.outcome is Outcome.RETRY
    assert result.status_code is None
    assert result.error == TIMED_OUT
    assert "timed out after 0.3s" in (result.detail or "")
    assert 250 <= result.duration_ms < 2000
    assert len(await receiver.wait_for(1, timeout=1)) == 1


async def test_send_to_a_closed_port_is_retried(client: httpx.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = await deliver(client, f"http://127.0.0.1:{port}/hook", new_secret(), timeout=5)
    assert result.outcome is Outcome.RETRY
    assert result.status_code is None
    # the vendor learns nothing about which address or port answered how (no port oracle)
    assert result.error == CONNECTION_FAILED
    assert f"127.0.0.1 port {port}" in (result.detail or "")


async def test_send_refuses_loopback_when_not_allowed(
    client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    result = await deliver(client, receiver.url, new_secret(), allow_loopback=False)
    assert result.outcome is Outcome.FAILED
    assert result.status_code is None
    assert result.error == NOT_ALLOWED
    assert "https" in (result.detail or "")
    assert receiver.requests == []  # refused before connecting: send() has returned


@pytest.mark.parametrize(
    "answer", ["127.0.0.1", "10.0.0.7", "169.254.169.254", "192.0.0.192", "192.88.99.1"]
)
async def test_send_refuses_a_name_that_resolves_to_an_unsafe_address(
    client: httpx.AsyncClient, answer: str
) -> None:
    calls: list[tuple[str, int]] = []
    result = await deliver(
        client,
        "https://hooks.example.com/in",
        new_secret(),
        allow_loopback=False,
        resolver=fake_resolver(answer, calls=calls),
    )
    assert calls == [("hooks.example.com", 443)]
    assert result.outcome is Outcome.FAILED
    assert result.status_code is None
    # no DNS oracle: the vendor sees a generic reason, the server log the resolved address
    assert result.error == NOT_ALLOWED
    assert answer in (result.detail or "") and "refused" in (result.detail or "")


async def test_send_connects_to_the_checked_address_with_the_original_host(
    client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    url = f"http://localhost:{receiver.port}/hook"
    result = await deliver(client, url, new_secret(), resolver=fake_resolver("127.0.0.1"))
    assert result.outcome is Outcome.DELIVERED
    [(headers, body, _)] = await receiver.wait_for(1, timeout=5)
    assert headers["host"] == f"localhost:{receiver.port}"
    assert body == PAYLOAD


async def test_send_falls_back_to_the_next_address(
    client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    url = f"http://localhost:{receiver.port}/hook"
    # The receiver listens on 127.0.0.1 only, so ::1 is refused (or unavailable).
    result = await deliver(client, url, new_secret(), resolver=fake_resolver("::1", "127.0.0.1"))
    assert result.outcome is Outcome.DELIVERED
    assert len(receiver.requests) == 1


async def test_send_dns_failure_is_retried(client: httpx.AsyncClient) -> None:
    async def broken(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    result = await deliver(client, "https://hooks.example.com/in", new_secret(), resolver=broken)
    assert result.outcome is Outcome.RETRY
    assert result.error == CONNECTION_FAILED  # NXDOMAIN and refused connections look alike
    assert "DNS" in (result.detail or "") and "hooks.example.com" in (result.detail or "")


async def test_send_refuses_an_invalid_url_without_raising(client: httpx.AsyncClient) -> None:
    result = await deliver(client, "ftp://127.0.0.1/x", new_secret())
    assert result.outcome is Outcome.FAILED
    assert result.error == NOT_ALLOWED
    assert "invalid URL" in (result.detail or "")


async def test_send_reuses_the_client_for_successive_attempts(
    client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    receiver.responses.extend([(500, {}, 0.0), (204, {}, 0.0)])
    secret = new_secret()
    first = await deliver(client, receiver.url, secret, msg_id="evt_9")
    second = await deliver(client, receiver.url, secret, msg_id="evt_9")
    assert (first.outcome, second.outcome) == (Outcome.RETRY, Outcome.DELIVERED)
    requests = await receiver.wait_for(2, timeout=5)
    assert [headers["webhook-id"] for headers, _, _ in requests] == ["evt_9", "evt_9"]
    assert requests[0].received_at <= requests[1].received_at
    for headers, body, _ in requests:
        Webhook(secret).verify(body, headers)


async def test_receiver_wait_for_times_out() -> None:
    async with WebhookReceiver() as idle:
        with pytest.raises(TimeoutError):
            await idle.wait_for(1, timeout=0.05)
