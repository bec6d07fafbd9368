"""Account vocabulary: the roles a token acts as and the life of a vendor account.

A vendor starts ``pending`` (it may manage its account but receives no matches) until an
operator verifies it; ``suspended`` takes away every vendor route.
"""

from __future__ import annotations

from typing import Literal

from intentcast.domain.errors import StateConflict

Role = Literal["buyer", "vendor", "operator"]
VendorStatus = Literal["pending", "verified", "suspended"]

VendorAction = Literal["verify", "suspend", "reinstate"]


def vendor_status_after(
    action: VendorAction, status: VendorStatus, *, was_verified: bool
) -> VendorStatus:
    """The status an operator's ``action`` moves a vendor to; else ``illegal-transition``.

    ``verify`` takes a pending vendor to verified; ``suspend`` takes a pending or verified one
    to suspended; ``reinstate`` takes a suspended vendor back to where it stood (verified if
    it ever was, else pending). Anything else, repeating an action included, is refused.
    """
    if action == "verify" and status == "pending":
        return "verified"
    if action == "suspend" and status in ("pending", "verified"):
        return "suspended"
    if action == "reinstate" and status == "suspended":
        return "verified" if was_verified else "pending"
    hint = {
        "verify": "only a pending vendor can be verified (reinstate a suspended one)",
        "suspend": "this vendor is already suspended",
        "reinstate": "only a suspended vendor can be reinstated",
    }[action]
    raise StateConflict(
        f"This vendor is {status}: {hint}.", "illegal-transition", vendor_status=status
    )
