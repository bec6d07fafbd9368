"""Passkey pages and the JSON endpoints ``static/js/passkeys.js`` talks to: sign-up with a
passkey (on ``/signup``), sign-in with one (on ``/signin``), and the account's passkeys
(``/account/passkeys``: list, add, remove). The ceremony rules are ``services.passkeys``.

Every ceremony is two JSON posts — ``…/options`` (the options for
``navigator.credentials``) and the answer — each with the CSRF token in ``X-CSRFToken``.
The pending ceremony's id lives in the browser's session (``CEREMONY_KEY``) and the
ceremony itself in Redis, read at most once. A refusal is answered as a problem JSON
object (``application/problem+json``: ``title``, ``status``, ``detail``, ``code``, and
``field`` when one is to blame) that the script shows in the page.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import asyncpg
import msgspec
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import Provide
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from redis.asyncio import Redis

from intentcast.api.types import DisplayName
from intentcast.config import Settings
from intentcast.domain.errors import DomainError, RuleViolation
from intentcast.domain.intents import Text
from intentcast.security import Keys
from intentcast.services import passkeys
from intentcast.services.passkeys import Ceremonies, RelyingParty
from intentcast.store.accounts import Principal
from intentcast.web.accounts import page
from intentcast.web.errors import status_of, validation_message
from intentcast.web.session import current_buyer, safe_next, sign_in

CEREMONY_KEY = "passkey_ceremony"
"""Session key: the id of the browser's pending ceremony (one at a time)."""
PROBLEM_JSON = "application/problem+json"

T = TypeVar("T")

PasskeyLabel = Annotated[Text, msgspec.Meta(max_length=80)]


class SignupStart(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    display_name: DisplayName
    label: PasskeyLabel | None = None


class AddStart(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    label: PasskeyLabel | None = None


class SigninStart(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class CeremonyAnswer(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    credential: dict[str, Any]
    """The browser's ``PublicKeyCredential`` as JSON (binary fields base64url)."""
    next: str | None = None
    """Sign-in: the page to go to afterwards (a path on this site)."""


class _BadRequest(Exception):
    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field


def _problem(status: int, detail: str, *, code: str, field: str | None = None) -> Response[Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": "Passkey request refused" if status != 400 else "Bad request",
        "status": status,
        "detail": detail,
        "code": code,
    }
    if field:
        body["field"] = field
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON)


def _refusal(exc: DomainError, status: int | None = None) -> Response[Any]:
    field = exc.field if isinstance(exc, RuleViolation) else None
    detail = f"{field}: {exc.message}" if field else exc.message
    return _problem(status or status_of(exc), detail, code=exc.code, field=field)


async def _body(request: Request[Any, Any, Any], kind: type[T]) -> T:
    """The JSON body as ``kind``; a 400 (not JSON) or 422 (naming the field) otherwise."""
    raw = await request.body()
    try:
        return msgspec.json.decode(raw or b"{}", type=kind)
    except msgspec.ValidationError as exc:
        where = str(exc).partition(" - at `$.")[2].rstrip("`")
        raise _BadRequest(422, validation_message(exc), where or None) from None
    except msgspec.DecodeError:
        raise _BadRequest(400, "The request body must be a JSON object.") from None


def _relying_party(request: Request[Any, Any, Any], settings: Settings) -> RelyingParty:
    origin = f"{request.url.scheme}://{request.url.netloc}"
    return passkeys.relying_party(settings.public_url, origin)


def _remember(request: Request[Any, Any, Any], ceremony_id: str) -> None:
    session = dict(request.session) if request.scope.get("session") else {}
    session[CEREMONY_KEY] = ceremony_id
    request.set_session(session)


def _pending(request: Request[Any, Any, Any]) -> str | None:
    """The pending ceremony's id, forgotten by the session (a ceremony is tried once)."""
    if not request.scope.get("session"):
        return None
    session = dict(request.session)
    ceremony_id = session.pop(CEREMONY_KEY, None)
    if session:
        request.set_session(session)
    else:
        request.clear_session()
    return ceremony_id if isinstance(ceremony_id, str) else None


def _json(content: dict[str, Any], status: int = 200) -> Response[Any]:
    return Response(content=content, status_code=status, media_type=MediaType.JSON)


class PasskeyPages(Controller):
    include_in_schema = False

    @post("/passkeys/signup/options", status_code=200)
    async def signup_options(
        self, request: Request[Any, Any, Any], redis: Redis, settings: Settings
    ) -> Response[Any]:
        """Options to create the passkey of a new account (``display_name``, ``label``)."""
        try:
            start = await _body(request, SignupStart)
            rp = _relying_party(request, settings)
            ceremony_id, options = await passkeys.begin_signup(
                Ceremonies(redis), rp, display_name=start.display_name, label=start.label
            )
        except _BadRequest as exc:
            return _problem(exc.status, exc.detail, code="validation-error", field=exc.field)
        except DomainError as exc:
            return _refusal(exc)
        _remember(request, ceremony_id)
        return _json({"publicKey": options})

    @post("/passkeys/signup", status_code=201)
    async def signup(
        self, request: Request[Any, Any, Any], db: asyncpg.Connection, redis: Redis, keys: Keys
    ) -> Response[Any]:
        """The new passkey: creates the account, signs the browser in, and answers its API
        token (shown once by the page)."""
        ceremony_id = _pending(request)
        try:
            answer = await _body(request, CeremonyAnswer)
            buyer, token, passkey = await passkeys.finish_signup(
                db, keys, Ceremonies(redis), ceremony_id=ceremony_id, credential=answer.credential
            )
        except _BadRequest as exc:
            return _problem(exc.status, exc.detail, code="validation-error", field=exc.field)
        except DomainError as exc:
            return _refusal(exc)
        sign_in(
            request,
            Principal(role="buyer", subject_id=buyer.id, token_id=""),
            method="passkey",
            passkey_id=passkey.id,
        )
        return _json(
            {"display_name": buyer.display_name, "passkey": passkey.label, "token": token}, 201
        )

    @post("/passkeys/signin/options", status_code=200)
    async def signin_options(
        self, request: Request[Any, Any, Any], redis: Redis, settings: Settings
    ) -> Response[Any]:
        """Options to sign in with any passkey the browser holds for this site."""
        try:
            await _body(request, SigninStart)
            rp = _relying_party(request, settings)
            ceremony_id, options = await passkeys.begin_signin(Ceremonies(redis), rp)
        except _BadRequest as exc:
            return _problem(exc.status, exc.detail, code="validation-error", field=exc.field)
        except DomainError as exc:
            return _refusal(exc)
        _remember(request, ceremony_id)
        return _json({"publicKey": options})

    @post("/passkeys/signin", status_code=200)
    async def signin(
        self, request: Request[Any, Any, Any], db: asyncpg.Connection, redis: Redis
    ) -> Response[Any]:
        """The passkey's answer: signs the browser in; ``next`` is where to go."""
        ceremony_id = _pending(request)
        try:
            answer = await _body(request, CeremonyAnswer)
            principal, passkey_id = await passkeys.finish_signin(
                db, Ceremonies(redis), ceremony_id=ceremony_id, credential=answer.credential
            )
        except _BadRequest as exc:
            return _problem(exc.status, exc.detail, code="validation-error", field=exc.field)
        except DomainError as exc:
            status = 401 if exc.code == "passkey-refused" else None
            return _refusal(exc, status)
        sign_in(request, principal, method="passkey", passkey_id=passkey_id)
        return _json({"next": safe_next(answer.next, "/intents")})

    @get("/account/passkeys", dependencies={"buyer": Provide(current_buyer)})
    async def account_passkeys(
        self,
        request: Request[Any, Any, Any],
        buyer: Principal,
        db: asyncpg.Connection,
        done: str | None = None,
    ) -> Template:
        return await self._list_page(request, buyer, db, done=done)

    async def _list_page(
        self,
        request: Request[Any, Any, Any],
        buyer: Principal,
        db: asyncpg.Connection,
        *,
        done: str | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> Template:
        rows = await passkeys.buyer_passkeys(db, buyer.subject_id)
        flash = {"added": "Passkey added.", "removed": "Passkey removed."}.get(done or "")
        return page(
            "passkeys.html",
            status=status,
            passkeys=rows,
            flash=flash,
            error=error,
            signed_in_with_token=bool(buyer.token_id),
            signed_in_as=buyer.subject_id,
        )

    @post(
        "/account/passkeys/options",
        status_code=200,
        dependencies={"buyer": Provide(current_buyer)},
    )
    async def add_options(
        self,
        request: Request[Any, Any, Any],
        buyer: Principal,
        db: asyncpg.Connection,
        redis: Redis,
        settings: Settings,
    ) -> Response[Any]:
        """Options to create another passkey for the signed-in buyer (``label``)."""
        try:
            start = await _body(request, AddStart)
            rp = _relying_party(request, settings)
            ceremony_id, options = await passkeys.begin_adding(
                db, Ceremonies(redis), rp, buyer_id=buyer.subject_id, label=start.label
            )
        except _BadRequest as exc:
            return _problem(exc.status, exc.detail, code="validation-error", field=exc.field)
        except DomainError as exc:
            return _refusal(exc)
        _remember(request, ceremony_id)
        return _json({"publicKey": options})

    @post("/account/passkeys", status_code=201, dependencies={"buyer": Provide(current_buyer)})
    async def add(
        self,
        request: Request[Any, Any, Any],
        buyer: Principal,
        db: asyncpg.Connection,
        redis: Redis,
    ) -> Response[Any]:
        """The new passkey's answer; stored on the signed-in buyer's account."""
        ceremony_id = _pending(request)
        try:
            answer = await _body(request, CeremonyAnswer)
            passkey = await passkeys.finish_adding(
                db,
                Ceremonies(redis),
                buyer_id=buyer.subject_id,
                ceremony_id=ceremony_id,
                credential=answer.credential,
            )
        except _BadRequest as exc:
            return _problem(exc.status, exc.detail, code="validation-error", field=exc.field)
        except DomainError as exc:
            return _refusal(exc)
        return _json({"passkey": passkey.label, "next": "/account/passkeys?done=added"}, 201)

    @post(
        "/account/passkeys/{passkey_id:str}/delete",
        status_code=303,
        dependencies={"buyer": Provide(current_buyer)},
    )
    async def remove(
        self,
        request: Request[Any, Any, Any],
        passkey_id: str,
        buyer: Principal,
        db: asyncpg.Connection,
    ) -> Any:
        try:
            await passkeys.remove_passkey(
                db,
                buyer_id=buyer.subject_id,
                passkey_id=passkey_id,
                signed_in_with_token=bool(buyer.token_id),
            )
        except DomainError as exc:
            if status_of(exc) == 404:
                raise
            return await self._list_page(
                request, buyer, db, error=exc.message, status=status_of(exc)
            )
        return Redirect(path="/account/passkeys?done=removed", status_code=HTTP_303_SEE_OTHER)
