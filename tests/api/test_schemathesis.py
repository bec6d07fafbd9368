"""schemathesis against the committed OpenAPI document (``openapi/openapi.json``), in
process: every operation, ``EXAMPLES`` positive and ``EXAMPLES`` negative cases each (cases
that fit the documented schema, and cases that break it), as a buyer, a vendor, an operator
or anonymously, with ids that exist and generated ones.

Every response must pass schemathesis' checks: not a server error; a documented status
code; the documented content type; the documented headers; a body valid under the
documented schema. ``negative_data_rejection`` (a schema-invalid request must be refused) is
left out: Litestar coerces query and body strings leniently (``"quantity": "1"``, ``?limit=``
with spaces), which the review judged harmless (Info) and which this check counts as
accepting invalid data.

Bounded for ``make test``: ``INTENTCAST_SCHEMATHESIS_EXAMPLES`` (default 20) per operation
and mode, from a fixed seed; ``INTENTCAST_SCHEMATHESIS_RANDOM=1`` draws a new seed.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any
from urllib.parse import urlsplit

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.inprocess import (
    OPENAPI_PATH,
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

EXAMPLES = int(os.environ.get("INTENTCAST_SCHEMATHESIS_EXAMPLES", "20"))
RANDOM = bool(os.environ.get("INTENTCAST_SCHEMATHESIS_RANDOM"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def send(call: AppCaller, case: Any, headers: dict[str, str]) -> Any:
    """The case as schemathesis would send it (its own serialisation), into the app."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    kwargs.pop("cookies", None)
    prepared = requests.Request(**kwargs).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    return call(
        prepared.method,
        url.path,
        query=url.query.encode(),
        headers=[(k.lower().encode(), v.encode("latin-1")) for k, v in prepared.headers.items()],
        body=body.encode() if isinstance(body, str) else body,
    )


def run_operation(
    call: AppCaller,
    callers: Callers,
    operation: Any,
    mode: GenerationMode,
    allowed: list[str],
    ids: dict[str, str],
) -> list[str]:
    """Run one operation's cases; the failures, described."""
    strategies = [operation.as_strategy(generation_mode=mode)]
    names = [p.name for p in operation.path_parameters]
    if names and all(name in ids for name in names):
        real = {name: ids[name] for name in names}
        strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=real))
    failures: dict[str, str] = {}  # the first case of each kind of failure

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies), who=st.sampled_from(allowed) | st.sampled_from(WHO))
    def cases(case: Any, who: str) -> None:
        if (case.method.upper(), operation.path, who) in SPARED:
            return
        response = send(call, case, callers.headers(who))
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as found:  # note it, and go on with the other cases
            kinds = ", ".join(sorted({type(f).__name__ for f in found.exceptions}))
            failures.setdefault(f"{operation.label}: {kinds}", f"as {who} ({mode.value}):\n{found}")

    try:
        cases()
    except Unsatisfiable:
        # nothing of the request can break its schema: an operation without parameters or
        # body that needs no token (`security: []`), such as `/health`
        if mode is not GenerationMode.NEGATIVE:
            raise
    return [f"{kind}\n{example}" for kind, example in failures.items()]


def test_get_me_is_a_tagged_union_by_role() -> None:
    """GET /v1/me answers `Buyer | VendorAccount | OperatorAccount`; untagged, an operator's
    `{"id": ...}` was valid under more than one schema of the `oneOf`."""
    document = committed_openapi()
    schemas = document["components"]["schemas"]
    for method, roles in (("get", {"buyer", "vendor", "operator"}), ("patch", {"buyer", "vendor"})):
        one_of = document["paths"]["/v1/me"][method]["responses"]["200"]["content"][
            "application/json"
        ]["schema"]["oneOf"]
        tags = set()
        for ref in one_of:
            schema = schemas[ref["$ref"].rsplit("/", 1)[1]]
            assert "role" in schema["required"]
            tags.add(schema["properties"]["role"]["const"])
        assert tags == roles


async def test_get_me_answers_its_role(client, db, buyer, vendor) -> None:
    operator = await operator_token(db)
    for who, token in (("buyer", buyer.token), ("vendor", vendor.token), ("operator", operator)):
        me = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        assert me.json()["role"] == who


async def test_schemathesis_finds_nothing(client, db, buyer, vendor) -> None:
    schema = schemathesis.openapi.from_path(OPENAPI_PATH)
    callers = Callers(buyer=buyer, vendor=vendor, operator=await operator_token(db))
    ids = await one_of_everything(client, db, buyer, vendor)
    call = AppCaller(client)
    allowed = await asyncio.to_thread(roles_allowed, call, callers, operations(committed_openapi()))

    def run() -> list[str]:
        failures: list[str] = []
        for result in schema.get_all_operations():
            operation = result.ok()
            operation_id = operation.definition.raw.get("operationId", operation.label)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                failures += run_operation(
                    call, callers, operation, mode, allowed.get(operation_id, list(WHO)), ids
                )
        return failures

    failures = await asyncio.to_thread(run)
    assert not failures, f"{len(failures)} kinds of failure:\n\n" + "\n\n".join(failures)
