"""Content moderation: the flagged relay messages (open ones, the queue, by default) and
resolving a flag (``dismiss``, ``remove_message``, ``suspend_vendor``), and the intents as
their vendors see them with removing one — through ``services.flag_moderation`` and
``services.intent_moderation``, validated by ``/v1/admin``'s own request Structs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

import asyncpg
import msgspec
from litestar import Controller, Request, get, post
from litestar.params import Parameter
from redis.asyncio import Redis

from intentcast.api.admin.common import RequiredReasonBody, actor_of
from intentcast.api.admin.flags import FlagResolve
from intentcast.api.types import decode_time_cursor, encode_time_cursor
from intentcast.config import Settings
from intentcast.domain.errors import DomainError
from intentcast.domain.intents import IntentStatus, is_live
from intentcast.services import flag_moderation, intent_moderation
from intentcast.services.flag_moderation import FlagAction, FlagStatus
from intentcast.store.accounts import Principal
from intentcast.web.errors import message_of, status_of
from intentcast.web.forms import form_fields
from intentcast.web.operator.common import (
    PAGE_SIZE,
    REQUIRES_OPERATOR,
    field_errors,
    operator_page,
    see_other,
)

Cursor = Annotated[str | None, Parameter(max_length=200)]
FLAG_ACTIONS: dict[str, str] = {
    "dismiss": "Dismiss: nothing wrong",
    "remove_message": "Remove the message (both sides see a tombstone)",
    "suspend_vendor": "Suspend the vendor that wrote it (reason required)",
}
assert set(FLAG_ACTIONS) == set(get_args(FlagAction))
IntentFilter = Literal["all", "open", "paused", "withdrawn", "fulfilled", "expired", "removed"]
assert set(get_args(IntentFilter)) == {"all", *get_args(IntentStatus)}


class OperatorModerationPages(Controller):
    path = "/operator"
    include_in_schema = False
    dependencies = REQUIRES_OPERATOR

    # ---- flagged messages ------------------------------------------------------------------

    @get("/flags")
    async def flags(
        self,
        operator: Principal,
        db: asyncpg.Connection,
        status: FlagStatus = "open",
        after: Cursor = None,
        done: str | None = None,
    ) -> Any:
        return await _flags_page(db, operator, status=status, after=after, done=done)

    @post("/flags/{message_id:str}/resolve", status_code=303)
    async def resolve_flag(
        self,
        message_id: str,
        request: Request[Any, Any, Any],
        operator: Principal,
        db: asyncpg.Connection,
        redis: Redis,
    ) -> Any:
        form = await form_fields(request, ("action", "reason"))
        reason = form["reason"].strip()
        body: dict[str, str] = {"action": form["action"]}
        if reason:
            body["reason"] = reason
        try:
            data = msgspec.convert(body, FlagResolve)
            await flag_moderation.resolve_flag(
                db,
                redis,
                actor=actor_of(operator),
                message_id=message_id,
                action=data.action,
                reason=data.reason,
            )
        except msgspec.ValidationError as exc:
            return await _flags_page(
                db, operator, status="open", failed=message_id, errors=field_errors(exc), form=form
            )
        except DomainError as exc:
            field = getattr(exc, "field", "form")
            return await _flags_page(
                db,
                operator,
                status="open",
                failed=message_id,
                errors={field if field in ("action", "reason") else "form": message_of(exc)},
                form=form,
                code=status_of(exc),
            )
        return see_other("/operator/flags?done=resolved")

    # ---- intents ---------------------------------------------------------------------------

    @get("/intents")
    async def intents(
        self,
        operator: Principal,
        db: asyncpg.Connection,
        settings: Settings,
        status: IntentFilter = "open",
        after: Cursor = None,
        done: str | None = None,
    ) -> Any:
        return await _intents_page(db, operator, settings, status=status, after=after, done=done)

    @post("/intents/{intent_id:str}/remove", status_code=303)
    async def remove_intent(
        self,
        intent_id: str,
        request: Request[Any, Any, Any],
        operator: Principal,
        db: asyncpg.Connection,
        redis: Redis,
        settings: Settings,
    ) -> Any:
        form = await form_fields(request, ("reason",))
        reason = form["reason"].strip()
        try:
            data = msgspec.convert({"reason": reason} if reason else {}, RequiredReasonBody)
            await intent_moderation.remove_intent(
                db,
                redis,
                actor=actor_of(operator),
                intent_id=intent_id,
                reason=data.reason,
                now=datetime.now(UTC),
                location_floor=settings.location_floor,
            )
        except msgspec.ValidationError as exc:
            return await _intents_page(
                db, operator, settings, failed=intent_id, errors=field_errors(exc), form=form
            )
        except DomainError as exc:
            return await _intents_page(
                db,
                operator,
                settings,
                failed=intent_id,
                errors={"form": message_of(exc)},
                form=form,
                code=status_of(exc),
            )
        return see_other("/operator/intents?done=removed")


async def _flags_page(
    db: asyncpg.Connection,
    operator: Principal,
    *,
    status: FlagStatus,
    after: str | None = None,
    done: str | None = None,
    failed: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    code: int = 422,
) -> Any:
    flags, last = await flag_moderation.list_flags(
        db, status=status, limit=PAGE_SIZE, before=decode_time_cursor(after)
    )
    full = last is not None and len(flags) == PAGE_SIZE
    return operator_page(
        "flags.html",
        operator,
        status=code if failed else 200,
        done=done,
        flags=flags,
        flag_status=status,
        actions=FLAG_ACTIONS,
        next_cursor=encode_time_cursor(*last) if last is not None and full else None,
        failed=failed,
        errors=errors or {},
        form=form or {"action": "", "reason": ""},
    )


async def _intents_page(
    db: asyncpg.Connection,
    operator: Principal,
    settings: Settings,
    *,
    status: IntentFilter = "open",
    after: str | None = None,
    done: str | None = None,
    failed: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    code: int = 422,
) -> Any:
    records, last = await intent_moderation.list_intents(
        db,
        status=None if status == "all" else status,
        limit=PAGE_SIZE,
        before=decode_time_cursor(after),
        location_floor=settings.location_floor,
    )
    full = last is not None and len(records) == PAGE_SIZE
    return operator_page(
        "intents.html",
        operator,
        status=code if failed else 200,
        done=done,
        records=records,
        intent_status=status,
        statuses=get_args(IntentFilter),
        is_live=is_live,
        next_cursor=encode_time_cursor(*last) if last is not None and full else None,
        failed=failed,
        errors=errors or {},
        form=form or {"reason": ""},
    )
