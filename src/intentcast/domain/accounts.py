"""Account vocabulary: the roles a token acts as and the life of a vendor account.

A vendor starts ``pending`` (it may manage its account but receives no matches) until an
operator verifies it; ``suspended`` takes away every vendor route.
"""

from __future__ import annotations

from typing import Literal

Role = Literal["buyer", "vendor", "operator"]
VendorStatus = Literal["pending", "verified", "suspended"]
