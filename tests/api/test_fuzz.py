"""Property: no input makes the API answer 5xx, and every error is problem details.

Hypothesis throws arbitrary bytes and arbitrary JSON (and hostile headers, path ids and
query values) at every operation of the committed OpenAPI document, as a buyer, a vendor,
an operator and anonymously, with ids that exist and ids that do not.

Bounded for ``make test``: ``INTENTCAST_FUZZ_EXAMPLES`` examples (default 800, a few
seconds) from a fixed seed; ``INTENTCAST_FUZZ_RANDOM=1`` draws a new seed each run, for
longer hunts (``INTENTCAST_FUZZ_EXAMPLES=20000 INTENTCAST_FUZZ_RANDOM=1``).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.inprocess import (
    PROBLEM,
    SPARED,
    WHO,
    AppCaller,
    Callers,
    committed_openapi,
    one_of_everything,
    operations,
    operator_token,
    roles_allowed,
)

DOCUMENT = committed_openapi()
OPERATIONS = operations(DOCUMENT)
EXAMPLES = int(os.environ.get("INTENTCAST_FUZZ_EXAMPLES", "800"))
RANDOM = bool(os.environ.get("INTENTCAST_FUZZ_RANDOM"))


def _body_fields(operation: dict[str, Any]) -> list[str]:
    """The property names of an operation's JSON body, to get past "unknown field"."""
    schema = (
        operation.get("requestBody", {})
        .get("content", {})
        .get("application/json", {})
        .get("schema", {})
    )
    refs = [schema, *schema.get("allOf", []), *schema.get("oneOf", [])]
    names: list[str] = []
    for ref in refs:
        if "$ref" in ref:
            component = DOCUMENT["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
            names += list(component.get("properties", {}))
    return names


BODY_FIELDS = {
    (o.method, o.path): _body_fields(DOCUMENT["paths"][o.path][o.method.lower()])
    for o in OPERATIONS
}
ALL_FIELDS = sorted({name for names in BODY_FIELDS.values() for name in names})

HOSTILE_TEXT = [
    "\x00",
    "a\x00b",
    "\x1b[2J",
    "\ud800",
    "١٢",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31",
    "' OR '1'='1",
    "../../me",
    "x" * 5000,
    "NaN",
    "1e400",
]
HOSTILE_NUMBERS = [2**63, 2**63 - 1, -(2**63) - 1, 2**64, 10**30, -1, 0, 1e308, -1e308]

texts = st.text(max_size=24) | st.sampled_from(HOSTILE_TEXT)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(HOSTILE_NUMBERS)
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(ALL_FIELDS) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def encode_json(value: Any, ascii_only: bool) -> bytes:
    # NaN and Infinity come out as the non-JSON tokens `NaN`/`Infinity`: a fine test too
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@st.composite
def bodies(draw: st.DrawFn, fields: list[str]) -> bytes:
    kind = draw(st.sampled_from(["object", "json", "bytes", "nested", "broken", "empty"]))
    if kind == "object" and fields:
        chosen = draw(st.lists(st.sampled_from(fields), max_size=len(fields), unique=True))
        value = {name: draw(json_values) for name in chosen}
        return encode_json(value, draw(st.booleans()))
    if kind in ("object", "json"):
        return encode_json(draw(json_values), draw(st.booleans()))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "nested":
        depth = draw(st.integers(min_value=200, max_value=20_000))
        opener = draw(st.sampled_from([b"[", b'{"a":']))
        closer = b"]" if opener == b"[" else b"}"
        return opener * depth + b"1" + closer * depth
    if kind == "broken":  # valid JSON with invalid UTF-8 or a raw NUL spliced in
        raw = encode_json(draw(json_values), False)
        at = draw(st.integers(min_value=0, max_value=len(raw)))
        return (
            raw[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b"\xed\xa0\x80"]))
            + raw[at:]
        )
    return b""


def percent(value: str) -> str:
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


@st.composite
def requests(draw: st.DrawFn, ids: dict[str, str]) -> dict[str, Any]:
    operation = draw(st.sampled_from(OPERATIONS))
    allowed = ROLES.get(operation.operation_id) or list(WHO)
    who = draw(st.sampled_from(allowed) | st.sampled_from(WHO))  # mostly a role it takes
    if (operation.method, operation.path, who) in SPARED:
        who = "anonymous"
    path = operation.path
    for name in operation.path_params:
        real = st.sampled_from([ids[name]] if name in ids else ["x"])
        value = draw(
            real
            | real
            | texts.map(percent)
            | st.sampled_from(["%00", "%ff%fe", "int_%00", "%2e%2e%2fme", "x" * 300])
        )
        path = path.replace("{" + name + "}", value)
    query: list[tuple[str, str]] = []
    for name in operation.query_params + tuple(draw(st.lists(st.text(max_size=5), max_size=1))):
        if draw(st.booleans()):
            query.append((name, draw(texts | st.integers().map(str))))
    headers: list[tuple[bytes, bytes]] = []
    if draw(st.integers(0, 9)) == 0:  # now and then a broken token instead
        headers.append((b"authorization", draw(st.binary(max_size=40)).replace(b"\n", b"")))
    else:
        headers += [(k.lower().encode(), v.encode()) for k, v in CALLERS.headers(who).items()]
    for name in dict.fromkeys((*operation.header_params, "Idempotency-Key")):  # each once
        if draw(st.booleans()):
            headers.append((name.lower().encode(), draw(st.binary(max_size=30))))
    body = b""
    if operation.has_body or draw(st.integers(0, 9)) == 0:
        body = draw(bodies(BODY_FIELDS[(operation.method, operation.path)]))
        content_type = draw(
            st.sampled_from([b"application/json"] * 4 + [b"text/plain", b"", b"multipart/x"])
        )
        if content_type:
            headers.append((b"content-type", content_type))
    encoded_query = "&".join(f"{percent(k)}={percent(v)}" for k, v in query).encode()
    return {
        "operation": operation,
        "who": who,
        "method": operation.method,
        "path": path,
        "query": encoded_query,
        "headers": headers,
        "body": body,
    }


CALLERS: Callers  # set by the test, read by the strategy (one app per test run)
ROLES: dict[str, list[str]] = {}  # the callers each operation lets past its guards


async def test_no_input_makes_any_route_answer_5xx(client, db, buyer, vendor) -> None:
    global CALLERS, ROLES
    CALLERS = Callers(buyer=buyer, vendor=vendor, operator=await operator_token(db))
    ids = await one_of_everything(client, db, buyer, vendor)
    call = AppCaller(client)
    ROLES = await asyncio.to_thread(roles_allowed, call, CALLERS, OPERATIONS)
    seen: set[tuple[str, int]] = set()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(request=requests(ids))
    def no_5xx(request: dict[str, Any]) -> None:
        response = call(
            request["method"],
            request["path"],
            query=request["query"],
            headers=request["headers"],
            body=request["body"],
        )
        seen.add((request["operation"].operation_id, response.status_code))
        where = (
            f"{request['method']} {request['path']}?{request['query']!r} as {request['who']}, "
            f"headers {request['headers']!r}, body {request['body'][:300]!r}"
        )
        assert response.status_code < 500, f"{where}: {response.status_code} {response.text}"
        if response.status_code >= 400:
            content_type = response.headers.get("content-type", "")
            assert content_type.startswith(PROBLEM), f"{where}: {content_type} {response.text}"

    await asyncio.to_thread(no_5xx)
    # the run reached most operations, and not only with refusals
    reached = {operation for operation, _ in seen}
    missed = sorted({o.operation_id for o in OPERATIONS} - reached)
    assert len(reached) > 0.8 * len(OPERATIONS), f"never reached: {missed}"
    assert any(status < 300 for _, status in seen)
