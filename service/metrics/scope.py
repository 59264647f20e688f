"""Which referrals a metrics request counts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Scope:
    """Which referrals count: the period (sent date, local) and the filters."""

    start: date
    end: date  # inclusive
    program_category: str | None = None
    provider_id: uuid.UUID | None = None
    school_id: uuid.UUID | None = None
    # The caller's own organization, for school and provider roles.
    only_school: uuid.UUID | None = None
    only_provider: uuid.UUID | None = None
