"""Outgoing vendor webhooks: everything about one delivery attempt, and nothing about queues.

This module owns

* endpoint secrets (``whsec_...``) and Standard Webhooks signing (:func:`new_secret`,
  :func:`sign`);
* the SSRF guard: :func:`check_url` validates a URL when an endpoint is registered, and
  :func:`resolve_checked` re-checks every address the host resolves to right before each
  attempt (so a name that later points at a private address is still refused);
* one delivery attempt, :func:`send`: it connects to the address that was checked (not to
  a second, possibly different, DNS answer), signs, POSTs, never follows redirects, and
  classifies the result as an :class:`Outcome` for the delivery log. The vendor sees only a
  generic reason (:data:`NOT_ALLOWED`, :data:`CONNECTION_FAILED`, :data:`TIMED_OUT`,
  ``HTTP 500``), never resolved addresses or socket errors, so the log is no DNS or port
  oracle; the details are returned separately for the server log;
* the retry policy: :data:`RETRY_SCHEDULE_S` and :func:`next_delay`.

Persisting attempts, scheduling retries and disabling endpoints after ``GONE`` belong to the
delivery worker. Give :func:`send` an ``httpx.AsyncClient(trust_env=False)`` so that proxy
environment variables cannot reroute deliveries.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ipaddress
import math
import random
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

import httpx
import msgspec
from standardwebhooks.webhooks import Webhook

from intentcast.domain.errors import RuleViolation

__all__ = [
    "CONNECTION_FAILED",
    "MAX_ATTEMPTS",
    "MAX_DELAY_S",
    "MAX_URL_LENGTH",
    "NOT_ALLOWED",
    "RETRY_SCHEDULE_S",
    "TIMED_OUT",
    "USER_AGENT",
    "AttemptResult",
    "CachingResolver",
    "Outcome",
    "ResolutionFailed",
    "Resolver",
    "UnsafeDestination",
    "address_problem",
    "check_url",
    "classify_status",
    "new_secret",
    "next_delay",
    "parse_retry_after",
    "resolve_checked",
    "send",
    "sign",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``async (host, port) -> [address, ...]``: the DNS lookup, injectable for tests."""

MAX_URL_LENGTH = 2000
USER_AGENT = "intentcast-webhooks/1"
SECRET_BYTES = 32
EXCERPT_CHARS = 500
_EXCERPT_READ_BYTES = 4 * EXCERPT_CHARS  # enough bytes for 500 characters of UTF-8

# Base delays before retry 1, 2, ... (about 23.7 hours in total), each jittered by ±20 %.
RETRY_SCHEDULE_S: tuple[float, ...] = (
    5.0,
    30.0,
    120.0,
    600.0,
    1800.0,
    3600.0,
    7200.0,
    14400.0,
    28800.0,
    28800.0,
)
MAX_ATTEMPTS = len(RETRY_SCHEDULE_S) + 1  # the first attempt plus every retry
MAX_DELAY_S = 86400.0
JITTER = 0.2

_BLOCKED_SUFFIXES = ("localhost", "local", "internal", "localdomain", "home.arpa", "lan")
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


# --- secrets and signatures -------------------------------------------------------------


def new_secret() -> str:
    """A fresh endpoint secret, ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


@functools.lru_cache(maxsize=1024)
def _signer(secret: str) -> Webhook:
    """The signer of one endpoint secret, built once (it decodes the secret)."""
    return Webhook(secret)


def sign(
    secret: str,
    msg_id: str,
    timestamp: datetime,
    payload: bytes,
    *,
    previous_secret: str | None = None,
) -> dict[str, str]:
    """The Standard Webhooks headers for ``payload`` (UTF-8 JSON) sent as ``msg_id``.

    A naive ``timestamp`` is taken as UTC; an aware one is converted to UTC first. With a
    ``previous_secret`` (a rotation's grace period) ``webhook-signature`` carries two
    space-separated ``v1,`` signatures, the current secret's first: a receiver verifying with
    either secret accepts the message (the spec's way to rotate without downtime).
    """
    ts = timestamp.replace(tzinfo=UTC) if timestamp.tzinfo is None else timestamp.astimezone(UTC)
    text = payload.decode("utf-8")
    signature = _signer(secret).sign(msg_id, ts, text)
    if previous_secret is not None and previous_secret != secret:
        signature += " " + _signer(previous_secret).sign(msg_id, ts, text)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(math.floor(ts.timestamp())),
        "webhook-signature": signature,
    }


# --- address and URL rules --------------------------------------------------------------


class UnsafeDestination(Exception):
    """A webhook host resolved to an address that deliveries may not reach."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        super().__init__(f"{host} resolves to {address}, {reason}; delivery refused")
        self.host = host
        self.address = address
        self.reason = reason


class ResolutionFailed(OSError):
    """The host name resolved to no address at all (transient: retry later)."""


def _ip_or_none(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _networks(
    rows: tuple[tuple[str, str], ...],
) -> tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...]:
    return tuple((ipaddress.ip_network(net), reason) for net, reason in rows)


_METADATA = " (this includes cloud metadata services)"

# Every IPv4 block of the IANA special-purpose address registry
# (https://www.iana.org/assignments/iana-ipv4-special-registry), whether or not IANA calls it
# "globally reachable", plus multicast, the reserved class E and cloud-internal addresses that
# sit in public space. Checked first to last; the first match names the reason.
_IPV4_DENIED = _networks(
    (
        ("0.0.0.0/8", 'the unspecified address ("this network", 0.0.0.0/8)'),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a shared (carrier-grade NAT) address" + _METADATA),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address" + _METADATA),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "an IETF protocol assignment address" + _METADATA),
        ("192.0.2.0/24", "a documentation address (TEST-NET-1)"),
        ("192.31.196.0/24", "an AS112 DNS sink address"),
        ("192.52.193.0/24", "an AMT relay address"),
        ("192.88.99.0/24", "a deprecated 6to4 relay anycast address"),
        ("192.168.0.0/16", "a private address"),
        ("192.175.48.0/24", "an AS112 DNS sink address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address (TEST-NET-2)"),
        ("203.0.113.0/24", "a documentation address (TEST-NET-3)"),
        ("224.0.0.0/4", "a multicast address"),
        ("255.255.255.255/32", "the broadcast address"),
        ("240.0.0.0/4", "a reserved address"),
        ("168.63.129.16/32", "a cloud provider's internal address (Azure WireServer)"),
    )
)

# Only global unicast (2000::/3) may be reached over IPv6; within it, every block of the IANA
# special-purpose registry (https://www.iana.org/assignments/iana-ipv6-special-registry) is
# refused. Outside it, the most specific reason is named. IPv4-mapped addresses are judged by
# their IPv4 address before this table is consulted.
_IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_IPV6_DENIED = _networks(
    (
        ("::/128", "the unspecified address"),
        ("::1/128", "a loopback address"),
        ("::/96", "a reserved (deprecated IPv4-compatible) address"),
        ("64:ff9b::/96", "a reserved NAT64 translation address"),
        ("64:ff9b:1::/48", "a reserved NAT64 translation address"),
        ("100::/64", "a reserved discard-only address"),
        ("fc00::/7", "a private (unique local) address" + _METADATA),
        ("fe80::/10", "a link-local address" + _METADATA),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
        # inside 2000::/3
        ("2001::/32", "a Teredo tunnel address"),
        ("2001:db8::/32", "a documentation address"),
        ("2001::/23", "an IETF protocol assignment address"),
        ("2002::/16", "a 6to4 address (6to4 is deprecated)"),
        ("2620:4f:8000::/48", "an AS112 DNS sink address"),
        ("3fff::/20", "a documentation address"),
        ("5f00::/16", "a segment routing (SRv6) address"),
    )
)


def address_problem(address: str | IPAddress, *, allow_loopback: bool) -> str | None:
    """Why webhooks may not target ``address`` (e.g. ``"a private address"``), or ``None``.

    Allowed are globally routable unicast addresses outside every block of the IANA
    special-purpose registries (an explicit list, :data:`_IPV4_DENIED` and
    :data:`_IPV6_DENIED`, not the running Python's idea of ``is_global``), plus loopback when
    ``allow_loopback``. IPv4-mapped IPv6 (``::ffff:a.b.c.d``) is judged by its IPv4 address.
    The standard library's checks still run afterwards, as a second opinion.
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(ip.packed)
        mapped = ip.ipv4_mapped
        if mapped is not None:
            problem = address_problem(mapped, allow_loopback=allow_loopback)
            return f"{problem} (IPv4-mapped {mapped})" if problem else None
        if ip.sixtofour is not None:
            problem = address_problem(ip.sixtofour, allow_loopback=False)
            if problem:
                return f"{problem} (6to4 {ip.sixtofour})"
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if isinstance(ip, ipaddress.IPv4Address):
        denied: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = _IPV4_DENIED
    else:
        denied = _IPV6_DENIED
    for network, reason in denied:
        if ip in network:
            return reason
    if isinstance(ip, ipaddress.IPv6Address) and ip not in _IPV6_GLOBAL_UNICAST:
        return "a reserved address (outside IPv6 global unicast, 2000::/3)"
    # the standard library's view, in case it knows of a block the lists above do not
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_link_local:
        return "a link-local address" + _METADATA
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a site-local address"
    if not ip.is_global:
        return "not a globally routable address"
    return None


def _refuse(message: str) -> RuleViolation:
    return RuleViolation("url", message)


def _normalise_host(hostname: str) -> tuple[str, IPAddress | None]:
    """Lower-case, IDNA-encoded host without a trailing dot, and its address if a literal."""
    host = hostname.lower()
    if host.endswith("."):
        host = host[:-1]
    if not host:
        raise _refuse("the URL must include a host")
    if "%" in host:
        raise _refuse("the host must not contain '%' (percent-encoding or an IPv6 zone)")
    ip = _ip_or_none(host)
    if ip is not None:
        return ip.compressed, ip
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise _refuse(f"{hostname!r} is not a valid host name") from None
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise _refuse(f"{hostname!r} is not a valid host name")
    if _NUMERIC_LABEL.match(labels[-1]):
        raise _refuse(f"{hostname!r} is not a valid host name; write IP addresses in standard form")
    return host, None


def check_url(url: str, *, allow_loopback: bool) -> str:
    """Validate a webhook URL at registration; return it normalised.

    Normalised means: lower-case scheme and host, IDNA host without a trailing dot,
    compressed IPv6, no default port, ``/`` for an empty path, no fragment.
    Raises ``RuleViolation("url", ...)`` explaining the first rule broken.
    """
    if not isinstance(url, str) or not url.strip():
        raise _refuse("a webhook URL is required")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise _refuse(f"the URL must be at most {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url) or "\\" in url:
        raise _refuse("the URL must not contain whitespace, control characters or '\\'")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _refuse(f"not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise _refuse("the URL must start with https://")
    if "@" in parts.netloc:
        raise _refuse("the URL must not contain credentials (user:password@)")
    if not parts.hostname:
        raise _refuse("the URL must include a host")
    host, ip = _normalise_host(parts.hostname)
    if port == 0:
        raise _refuse("port 0 is not a valid port")

    is_loopback = host == "localhost" or (ip is not None and _is_loopback(ip))
    if scheme == "http" and not (allow_loopback and is_loopback):
        raise _refuse(
            "the URL must use https (plain http is accepted only for loopback addresses, "
            "and only when local webhooks are enabled)"
        )
    if ip is not None:
        problem = address_problem(ip, allow_loopback=allow_loopback)
        if problem:
            raise _refuse(f"{host} is {problem}; webhooks must target a public address")
    elif host == "localhost":
        if not allow_loopback:
            raise _refuse("localhost is not allowed; webhooks must target a public address")
    elif any(host == s or host.endswith("." + s) for s in _BLOCKED_SUFFIXES):
        raise _refuse(f"{host} is a local or internal name; webhooks must target a public host")
    elif "." not in host:
        raise _refuse(f"{host} is not a fully qualified domain name")

    netloc = f"[{host}]" if isinstance(ip, ipaddress.IPv6Address) else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    normalised = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    if len(normalised) > MAX_URL_LENGTH:
        raise _refuse(f"the URL must be at most {MAX_URL_LENGTH} characters")
    return normalised


def _is_loopback(ip: IPAddress) -> bool:
    """Loopback, including IPv4-mapped loopback (``::ffff:127.0.0.1``)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


async def _system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


class CachingResolver:
    """A :data:`Resolver` that reuses each answer of ``resolve`` (by default the system
    resolver) for ``ttl_s`` seconds, per host and port.

    Only the DNS lookup is saved. :func:`resolve_checked` still checks every address of a
    reused answer before each attempt, and :func:`send` still connects to a checked address
    (never to a name resolved again), so a reused answer can never reach an address the
    rules refuse; what it delays, by ``ttl_s`` at most, is following a name to a new
    address. Failures are not kept: the next attempt asks again."""

    def __init__(
        self, resolve: Resolver | None = None, *, ttl_s: float = 10.0, max_entries: int = 1024
    ) -> None:
        self._resolve = resolve or _system_resolve
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._answers: dict[tuple[str, int], tuple[float, list[str]]] = {}

    async def __call__(self, host: str, port: int) -> list[str]:
        now = time.monotonic()
        kept = self._answers.get((host, port))
        if kept is not None and kept[0] > now:
            return list(kept[1])
        answers = [str(a) for a in await self._resolve(host, port)]
        if len(self._answers) >= self.max_entries:
            self._answers = {k: v for k, v in self._answers.items() if v[0] > now}
            if len(self._answers) >= self.max_entries:
                self._answers.clear()
        self._answers[(host, port)] = (now + self.ttl_s, answers)
        return list(answers)


async def resolve_checked(
    host: str, port: int, *, allow_loopback: bool, resolver: Resolver | None = None
) -> list[str]:
    """Resolve ``host`` and return its addresses, all of which are allowed targets.

    Raises :class:`UnsafeDestination` if ANY address is not allowed (a mixed answer is
    refused as a whole), :class:`ResolutionFailed` for an empty answer; resolver errors
    (``socket.gaierror``) propagate. An IP literal is checked without resolving.
    """
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    literal = _ip_or_none(bare)
    if literal is not None:
        answers = [bare]
    else:
        answers = await (resolver or _system_resolve)(host, port)
    addresses: list[str] = []
    for answer in answers:
        ip = _ip_or_none(str(answer).split("%", 1)[0])
        if ip is None:
            raise UnsafeDestination(host, str(answer), "not an IP address")
        problem = address_problem(ip, allow_loopback=allow_loopback)
        if problem:
            raise UnsafeDestination(host, ip.compressed, problem)
        if ip.compressed not in addresses:
            addresses.append(ip.compressed)
    if not addresses:
        raise ResolutionFailed(f"{host} resolved to no addresses")
    return addresses


# --- one attempt ------------------------------------------------------------------------


class Outcome(StrEnum):  # a str Enum: stored and compared as its value
    DELIVERED = "delivered"
    RETRY = "retry"  # transient: try again after next_delay()
    GONE = "gone"  # 410: the caller disables the endpoint
    FAILED = "failed"  # permanent for this message: do not retry


# What the vendor sees of a failed attempt (``last_error`` and the attempt log). These say
# nothing about how the server's resolver answered or which addresses and ports answered how,
# so the delivery log cannot be used to map internal DNS or probe ports; the full reason is
# in ``AttemptResult.detail``, for the server log only.
NOT_ALLOWED = "destination not allowed"
CONNECTION_FAILED = "connection failed"
TIMED_OUT = "timed out"


class AttemptResult(msgspec.Struct, frozen=True):
    outcome: Outcome
    status_code: int | None
    error: str | None  # vendor-visible and generic: NOT_ALLOWED, CONNECTION_FAILED, "HTTP 500"
    duration_ms: float
    response_excerpt: str | None  # first 500 characters of the response body
    retry_after: float | None = None  # seconds asked for by Retry-After on 429/503
    detail: str | None = None  # the full reason (addresses, errno): server log only


def classify_status(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status == 410:
        return Outcome.GONE
    if status in (408, 425, 429) or 500 <= status < 600:
        return Outcome.RETRY
    return Outcome.FAILED


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` value (delta-seconds or HTTP-date); ``None`` if invalid."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _status_error(status: int) -> str:
    """The vendor-visible error of a non-2xx answer: the status and nothing the receiver or
    the network chose (no reason phrase, no ``Location``)."""
    if 300 <= status < 400:
        return f"HTTP {status} (redirects are not followed)"
    return f"HTTP {status}"


async def _read_excerpt(response: httpx.Response) -> str | None:
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data.extend(chunk)
        if len(data) >= _EXCERPT_READ_BYTES:
            break
    text = bytes(data[:_EXCERPT_READ_BYTES]).decode("utf-8", errors="replace")[:EXCERPT_CHARS]
    return text or None


class _Target(msgspec.Struct, frozen=True):
    """What every attempt to one endpoint URL shares (:func:`_target`)."""

    url: httpx.URL  # the checked URL, its host still a name
    host: str
    port: int
    headers: dict[str, str]  # the unsigned ones; copied by each attempt, never changed
    extensions: dict[str, str]  # the TLS server name for https to a name


@functools.lru_cache(maxsize=1024)
def _target(url: str, allow_loopback: bool) -> _Target:
    """``url`` checked (:func:`check_url`, a pure function of its arguments: its answer is
    kept) and parsed once; raises ``RuleViolation`` as :func:`check_url` does (not kept)."""
    parsed = httpx.URL(check_url(url, allow_loopback=allow_loopback))
    host = parsed.host
    headers = {
        "host": parsed.netloc.decode("ascii"),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    extensions = {}
    if parsed.scheme == "https" and _ip_or_none(host) is None:
        extensions["sni_hostname"] = host
    return _Target(parsed, host, parsed.port or _DEFAULT_PORTS[parsed.scheme], headers, extensions)


@functools.lru_cache(maxsize=4096)
def _address_url(url: httpx.URL, address: str) -> httpx.URL:
    """``url`` with its host replaced by the checked ``address`` to connect to."""
    return url.copy_with(host=address)


@functools.lru_cache(maxsize=16)
def _timeout_extension(timeout: float) -> dict[str, dict[str, float | None]]:
    return {"timeout": httpx.Timeout(timeout).as_dict()}


async def send(
    client: httpx.AsyncClient,
    *,
    url: str,
    secret: str,
    msg_id: str,
    payload: bytes,
    allow_loopback: bool,
    timeout: float = 10.0,  # noqa: ASYNC109 - the whole attempt, resolution included
    resolver: Resolver | None = None,
    now: datetime | None = None,
    previous_secret: str | None = None,
) -> AttemptResult:
    """Make one signed delivery attempt of ``payload`` to ``url`` and classify the result.

    ``now`` is the signing timestamp (default: the current time). ``previous_secret``: a
    rotated-out secret still in its grace period, which signs too (:func:`sign`). The URL is
    re-checked, the host resolved and every address checked; the request then goes to a
    checked address (with the original ``Host`` header and TLS server name), so DNS cannot
    change the target between check and connect. ``timeout`` bounds the whole attempt.
    Network problems never raise: they come back as ``RETRY`` (or ``FAILED`` for refused
    destinations).

    The result's ``error`` is for the vendor and generic (:data:`NOT_ALLOWED`,
    :data:`CONNECTION_FAILED`, :data:`TIMED_OUT`, ``HTTP <status>``); ``detail`` has the
    reason for the operator's log. Neither contains the URL's path or query, the secret or
    the payload.
    """
    started = time.monotonic()

    def result(
        outcome: Outcome,
        *,
        status: int | None = None,
        error: str | None = None,
        detail: str | None = None,
        excerpt: str | None = None,
        retry_after: float | None = None,
    ) -> AttemptResult:
        duration_ms = (time.monotonic() - started) * 1000.0
        return AttemptResult(
            outcome, status, error, duration_ms, excerpt, retry_after, detail or error
        )

    try:
        target = _target(url, allow_loopback)
    except RuleViolation as exc:
        return result(Outcome.FAILED, error=NOT_ALLOWED, detail=f"invalid URL: {exc.message}")
    host, port = target.host, target.port
    signed_at = now or datetime.now(UTC)
    headers = {
        **target.headers,
        **sign(secret, msg_id, signed_at, payload, previous_secret=previous_secret),
    }
    extensions = target.extensions | _timeout_extension(timeout)

    resolving = True  # a timeout while resolving is a connection failure, not the receiver's
    try:
        async with asyncio.timeout(timeout):
            try:
                addresses = await resolve_checked(
                    host, port, allow_loopback=allow_loopback, resolver=resolver
                )
            except UnsafeDestination as exc:
                return result(Outcome.FAILED, error=NOT_ALLOWED, detail=str(exc))
            except OSError as exc:
                return result(
                    Outcome.RETRY,
                    error=CONNECTION_FAILED,
                    detail=f"DNS resolution of {host} failed: {_describe(exc)}",
                )
            resolving = False

            connect_errors: list[str] = []
            for address in addresses:
                request = client.build_request(
                    "POST",
                    _address_url(target.url, address),
                    content=payload,
                    headers=headers,
                    extensions=dict(extensions),
                )
                try:
                    response = await client.send(request, stream=True, follow_redirects=False)
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    connect_errors.append(f"{address} port {port}: {_describe(exc)}")
                    continue
                try:
                    status = response.status_code
                    outcome = classify_status(status)
                    retry_after = None
                    if status in (429, 503):
                        retry_after = parse_retry_after(
                            response.headers.get("retry-after"), now=datetime.now(UTC)
                        )
                    error = detail = None
                    if outcome is not Outcome.DELIVERED:
                        error = _status_error(status)
                        detail = f"{host} ({address} port {port}) answered {error}"
                        if 300 <= status < 400:
                            location = urlsplit(response.headers.get("location", ""))
                            detail += f"; redirect to host {location.hostname!r} not followed"
                    try:
                        excerpt = await _read_excerpt(response)
                    except httpx.HTTPError:
                        excerpt = None  # the status already decides the outcome
                finally:
                    await response.aclose()
                return result(
                    outcome,
                    status=status,
                    error=error,
                    detail=detail,
                    excerpt=excerpt,
                    retry_after=retry_after,
                )
            return result(
                Outcome.RETRY,
                error=CONNECTION_FAILED,
                detail=f"could not connect to {host}: " + "; ".join(connect_errors),
            )
    except (TimeoutError, httpx.TimeoutException) as exc:
        return result(
            Outcome.RETRY,
            error=CONNECTION_FAILED if resolving else TIMED_OUT,
            detail=f"{host} port {port}: timed out after {timeout:g}s ({type(exc).__name__})",
        )
    except httpx.InvalidURL as exc:
        return result(Outcome.FAILED, error=NOT_ALLOWED, detail=f"invalid URL: {exc}")
    except (httpx.HTTPError, OSError) as exc:
        return result(
            Outcome.RETRY,
            error=CONNECTION_FAILED,
            detail=f"request to {host} port {port} failed: {_describe(exc)}",
        )


# --- retry policy -----------------------------------------------------------------------


def next_delay(
    attempt: int, *, rng: random.Random | None = None, retry_after: float | None = None
) -> float | None:
    """Seconds to wait before retry number ``attempt`` (1-based), ``None`` once exhausted.

    The base delay from :data:`RETRY_SCHEDULE_S` is jittered by ±20 %; a ``retry_after``
    from the receiver raises the delay to at least that. The result is capped at one day.
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    if attempt > len(RETRY_SCHEDULE_S):
        return None
    base = RETRY_SCHEDULE_S[attempt - 1]
    delay = base * (rng or random).uniform(1.0 - JITTER, 1.0 + JITTER)
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return min(delay, MAX_DELAY_S)
