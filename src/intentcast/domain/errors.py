"""Every rule the domain or a use case can refuse, as one hierarchy with stable codes.

The API maps the four bases to RFC 9457 problems once (``api/errors.py``); each subclass
carries its own problem code, so a client can tell every refusal apart by ``type``::

    DomainError
      ├ RuleViolation(field, message)      422  validation-error (names the field)
      ├ NotFound(what)                     404  not-found
      ├ StateConflict(message, code)       409  (code per subclass)
      │   ├ IllegalTransition              illegal-transition
      │   ├ IntentClosed                   intent-closed
      │   ├ OfferNotLive                   offer-not-live
      │   ├ OfferChanged                   offer-changed
      │   ├ OfferNotAccepted               offer-not-accepted
      │   ├ TermsNotAccepted               terms-not-accepted
      │   ├ EndpointDisabled               endpoint-disabled
      │   ├ AlreadyExists                  offer-exists | thread-exists | already-rated
      │   │                                | vendor-name-taken
      │   ├ QuotaExceeded                  too-many-open-intents | too-many-subscriptions
      │   │                                | too-many-webhooks | last-token
      │   │                                | too-many-pending-deliveries
      │   └ NothingToChange                nothing-to-change
      ├ Gone(message, code)                410  reveal-revoked
      └ Refused(message, code)             403  blocked

``NotFound`` is also how a use case says "not yours": answering 404 rather than 403 keeps
the existence of other people's things from leaking.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every refusal the domain and the services raise."""

    code = "error"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class RuleViolation(DomainError):
    """Input is well-formed but breaks a rule (422), naming the field."""

    code = "validation-error"

    def __init__(self, field: str, message: str, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.args = (f"{field}: {message}",)
        self.field = field


class NotFound(DomainError):
    """No such thing, or not the caller's (404)."""

    code = "not-found"

    def __init__(self, what: str = "resource") -> None:
        super().__init__(f"No such {what}.")
        self.what = what


class StateConflict(DomainError):
    """The resource's current state does not allow this (409)."""

    code = "conflict"

    def __init__(self, message: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(message, **extra)
        if code is not None:
            self.code = code


class IllegalTransition(StateConflict):
    code = "illegal-transition"

    def __init__(self, current: str, target: str, what: str = "an intent") -> None:
        super().__init__(f"{what} that is {current} cannot become {target}")
        self.current = current
        self.target = target


class IntentClosed(StateConflict):
    """The intent no longer takes this action (offers, messages, acceptance)."""

    code = "intent-closed"

    def __init__(self, status: str, consequence: str) -> None:
        super().__init__(f"This intent is {status}; {consequence}.")
        self.status = status


class OfferNotLive(StateConflict):
    code = "offer-not-live"


class OfferChanged(StateConflict):
    """The buyer accepted a version of the offer that has since been revised."""

    code = "offer-changed"

    def __init__(self, seen: int, current: int) -> None:
        super().__init__(
            f"The offer was revised since you saw it (version {seen}, now {current}); "
            "review it and accept again.",
            current_version=current,
        )


class OfferNotAccepted(StateConflict):
    code = "offer-not-accepted"


class TermsNotAccepted(StateConflict):
    code = "terms-not-accepted"


class EndpointDisabled(StateConflict):
    code = "endpoint-disabled"


class NothingToChange(StateConflict):
    code = "nothing-to-change"


class AlreadyExists(StateConflict):
    """``code``: ``offer-exists``, ``thread-exists``, ``already-rated`` or
    ``vendor-name-taken``."""

    def __init__(self, message: str, code: str, **extra: Any) -> None:
        super().__init__(message, code, **extra)


class QuotaExceeded(StateConflict):
    """``code``: ``too-many-open-intents``, ``too-many-subscriptions``,
    ``too-many-webhooks`` or ``last-token``."""

    def __init__(self, message: str, code: str, *, limit: int | None = None) -> None:
        super().__init__(message, code)
        self.limit = limit


class Gone(DomainError):
    """It existed and was withdrawn for good (410)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class Refused(DomainError):
    """The caller is known and may not do this (403)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code
