"""The referral loop as a pure state machine: statuses, who may move them, which need a reason.

This module is the status table of PRODUCT.md, and the only place that knows it: who may
make each move, which reasons it takes, which timestamps it sets, and how the API answers
a refused one. It has no I/O: `plan(...)` returns the whole transition and the service
applies it (referrals/service.py `_apply`, the one function every move goes through, the
system's included); the tests walk every pair of statuses.

    sent ──system──> received ──provider──> accepted ──> contacted ──> enrolled ──> completed
      │                 │                      │  └────────────────────────^          │
      │                 └──provider──> declined│                                      │
      │                                        └──────> not_completed <───────────────┘
      └── school: cancelled (any open status);  system: expired (sent/received),
          cancelled with consent_revoked (any open status)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    sent = "sent"
    received = "received"
    accepted = "accepted"
    declined = "declined"
    contacted = "contacted"
    enrolled = "enrolled"
    completed = "completed"
    not_completed = "not_completed"
    cancelled = "cancelled"
    expired = "expired"

    @property
    def is_closed(self) -> bool:
        """A closed loop: the referral reached a terminal status."""
        return self in TERMINAL

    @property
    def fhir_task_status(self) -> str:
        """The HL7 FHIR Task.status this status maps to (SDOH Clinical Care referral)."""
        return FHIR_TASK_STATUS[self]


class Side(StrEnum):
    """Who makes a transition: the referring school, the receiving provider, or the system."""

    school = "school"
    provider = "provider"
    system = "system"


class Reason(StrEnum):
    """Coded reasons; declined, not_completed and cancelled carry one."""

    # declined
    no_capacity = "no_capacity"
    not_eligible = "not_eligible"
    not_a_fit = "not_a_fit"
    # not_completed
    could_not_contact = "could_not_contact"
    family_declined = "family_declined"
    no_longer_interested = "no_longer_interested"
    moved_away = "moved_away"
    stopped_attending = "stopped_attending"
    # cancelled
    no_longer_needed = "no_longer_needed"
    entered_in_error = "entered_in_error"
    consent_revoked = "consent_revoked"
    consent_expired = "consent_expired"
    # expired
    no_response = "no_response"
    # any of the above
    other = "other"


TERMINAL = frozenset(
    {Status.declined, Status.completed, Status.not_completed, Status.cancelled, Status.expired}
)
OPEN = frozenset(Status) - TERMINAL
# Statuses in which the provider has not answered yet (the first-response window runs).
AWAITING_RESPONSE = frozenset({Status.sent, Status.received})

FHIR_TASK_STATUS = {
    Status.sent: "requested",
    Status.received: "received",
    Status.accepted: "accepted",
    Status.declined: "rejected",
    Status.contacted: "in-progress",
    Status.enrolled: "in-progress",
    Status.completed: "completed",
    Status.not_completed: "failed",
    Status.cancelled: "cancelled",
    Status.expired: "cancelled",
}

_S = Status
_OPEN_AFTER_ACCEPT = (_S.accepted, _S.contacted, _S.enrolled)

# (from, to) -> the side that may make it.
TRANSITIONS: dict[tuple[Status, Status], Side] = {
    (_S.sent, _S.received): Side.system,
    (_S.received, _S.accepted): Side.provider,
    (_S.received, _S.declined): Side.provider,
    (_S.accepted, _S.contacted): Side.provider,
    (_S.accepted, _S.enrolled): Side.provider,  # contact and enrolment on the same day
    (_S.contacted, _S.enrolled): Side.provider,
    (_S.enrolled, _S.completed): Side.provider,
    **{(s, _S.not_completed): Side.provider for s in _OPEN_AFTER_ACCEPT},
    **{(s, _S.cancelled): Side.school for s in OPEN},
    (_S.sent, _S.expired): Side.system,
    (_S.received, _S.expired): Side.system,
}

# The reasons each target status accepts; a target listed here requires one.
REASONS: dict[Status, frozenset[Reason]] = {
    _S.declined: frozenset(
        {Reason.no_capacity, Reason.not_eligible, Reason.not_a_fit, Reason.other}
    ),
    _S.not_completed: frozenset(
        {
            Reason.could_not_contact,
            Reason.family_declined,
            Reason.no_longer_interested,
            Reason.moved_away,
            Reason.stopped_attending,
            Reason.other,
        }
    ),
    _S.expired: frozenset({Reason.no_response}),
}
# Cancelling may say why; consent_revoked is the system's alone.
CANCEL_REASONS = frozenset({Reason.no_longer_needed, Reason.entered_in_error, Reason.other})
SYSTEM_CANCEL_REASONS = frozenset({Reason.consent_revoked, Reason.consent_expired})


@dataclass(frozen=True)
class Refusal:
    """Why a transition cannot happen, with the problem code and HTTP status the API
    answers: 409 for a move the loop does not have, 403 for the other side's move, 422
    for a missing or wrong reason."""

    code: str
    detail: str
    next_statuses: tuple[Status, ...] = ()  # the moves the asking side may make instead

    @property
    def status(self) -> int:
        return {"invalid_transition": 409, "transition_not_permitted": 403}.get(self.code, 422)


# The referral timestamps a move to each status sets (besides updated_at).
_STAMPS: dict[Status, tuple[str, ...]] = {
    _S.received: ("received_at",),
    _S.accepted: ("responded_at",),
    _S.declined: ("responded_at", "closed_at"),
    _S.contacted: ("contacted_at",),
    _S.enrolled: ("enrolled_at",),
    _S.completed: ("closed_at",),
    _S.not_completed: ("closed_at",),
    _S.cancelled: ("closed_at",),
    _S.expired: ("closed_at",),
}


@dataclass(frozen=True)
class Transition:
    """A move from `current` to `target` by `side`, as the state machine sees it: refused
    (`refusal`), or allowed with the timestamps it sets and the status reason it leaves."""

    current: Status
    target: Status
    side: Side
    reason: Reason | None
    refusal: Refusal | None
    stamps: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        return self.refusal is None

    @property
    def sets_reason(self) -> bool:
        """Whether the referral's status_reason becomes `reason` (a closing move clears an
        earlier one when it has none)."""
        return self.reason is not None or self.target.is_closed


def plan(
    current: Status,
    target: Status,
    side: Side,
    reason: Reason | None = None,
    *,
    contacted: bool = False,
) -> Transition:
    """The transition `side` asks for. `contacted`: the referral already has a first
    contact (enrolling without a contacted step records the contact then)."""
    refusal = check(current, target, side, reason)
    stamps = _STAMPS.get(target, ())
    if target is _S.enrolled and not contacted:
        stamps = ("contacted_at", *stamps)
    return Transition(current, target, side, reason, refusal, () if refusal else stamps)


def check(current: Status, target: Status, side: Side, reason: Reason | None) -> Refusal | None:
    """None when `side` may move a referral from `current` to `target` with `reason`."""
    allowed = TRANSITIONS.get((current, target))
    yours = tuple(offered(current, side))
    instead = (
        f"; you can move it to {', '.join(yours)}."
        if yours
        else ("; its loop is closed." if current.is_closed else "; you have no move from here.")
    )
    if allowed is None:
        return Refusal(
            "invalid_transition",
            f"{_a(current).capitalize()} referral cannot become {target}{instead}",
            yours,
        )
    # The system may cancel from any open status (consent revocation, expiry).
    if allowed is not side and not (side is Side.system and target is Status.cancelled):
        return Refusal(
            "transition_not_permitted",
            f"Only the {allowed} side can move a referral from {current} to {target}{instead}",
            yours,
        )
    if target is Status.cancelled:
        permitted = SYSTEM_CANCEL_REASONS if side is Side.system else CANCEL_REASONS
        if side is Side.system and reason is None:
            return Refusal("reason_required", "The system cancels only with a reason.")
        if reason is not None and reason not in permitted:
            return _bad_reason(target, reason, permitted)
        return None
    permitted = REASONS.get(target, frozenset())
    if permitted and reason is None:
        return Refusal(
            "reason_required",
            f"Moving to {target} needs a reason: one of {', '.join(sorted(permitted))}.",
        )
    if reason is not None and reason not in permitted:
        return _bad_reason(target, reason, permitted)
    return None


def _bad_reason(target: Status, reason: Reason, permitted: frozenset[Reason]) -> Refusal:
    if not permitted:
        return Refusal("invalid_reason", f"Moving to {target} takes no reason code.")
    return Refusal(
        "invalid_reason",
        f"{reason} is not a reason for {target}; use one of {', '.join(sorted(permitted))}.",
    )


def _a(status: Status) -> str:
    return ("an " if status.value[0] in "aeiou" else "a ") + status.value


def next_statuses(current: Status, side: Side) -> list[Status]:
    """The table's moves for `side` from `current`, one step each."""
    return sorted(
        (t for (f, t), s in TRANSITIONS.items() if f is current and s is side),
        key=list(Status).index,
    )


def offered(current: Status, side: Side) -> list[Status]:
    """The moves `side` may ask for now, in one request: what a UI offers as buttons and
    the API lists in `next_statuses`. A provider answering a sent referral receives it on
    the way (the system's move, made by the same request), so a sent referral offers the
    provider what a received one does."""
    if side is Side.provider and current is Status.sent:
        return next_statuses(Status.received, side)
    return next_statuses(current, side)
