"""Domain rule violations, raised by pure code and turned into 409/422 problems by the API."""

from __future__ import annotations

from typing import Any


class RuleViolation(Exception):
    """Input is well-formed but breaks a rule (422), naming the field."""

    def __init__(self, field: str, message: str, **extra: Any) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.extra = extra


class StateConflict(Exception):
    """The resource's current state does not allow this (409)."""

    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(message)
        self.code = code
