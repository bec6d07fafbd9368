"""What the operator routes share: the acting operator as the audit log names it, and the
body that carries an operator's reason."""

from __future__ import annotations

from typing import Annotated

import msgspec

from intentcast.domain.intents import Text
from intentcast.store.accounts import Principal

Reason = Annotated[
    Text,
    msgspec.Meta(
        min_length=1,
        max_length=2000,
        description="Why: kept in the audit log (and shown to the account it concerns).",
        examples=["Listed counterfeit goods"],
    ),
]


class ReasonBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An optional reason for an operator's action."""

    reason: Reason | None = None


class RequiredReasonBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An operator's action that must say why."""

    reason: Reason


def actor_of(principal: Principal) -> str:
    """The audit log's ``actor`` for a request: the operator's id."""
    return principal.subject_id
