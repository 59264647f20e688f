"""The referral state machine against the status table of PRODUCT.md, pair by pair."""

from __future__ import annotations

import itertools

import pytest

from service.referrals.states import OPEN, Reason, Side, Status, check, next_statuses, plan

S = Status
# Written out from PRODUCT.md, independently of states.TRANSITIONS:
# (from, to, side that may do it, a reason it needs or None).
EXPECTED = {
    (S.sent, S.received): (Side.system, None),
    (S.received, S.accepted): (Side.provider, None),
    (S.received, S.declined): (Side.provider, Reason.no_capacity),
    (S.accepted, S.contacted): (Side.provider, None),
    (S.accepted, S.enrolled): (Side.provider, None),
    (S.contacted, S.enrolled): (Side.provider, None),
    (S.enrolled, S.completed): (Side.provider, None),
    (S.accepted, S.not_completed): (Side.provider, Reason.could_not_contact),
    (S.contacted, S.not_completed): (Side.provider, Reason.family_declined),
    (S.enrolled, S.not_completed): (Side.provider, Reason.stopped_attending),
    (S.sent, S.cancelled): (Side.school, None),
    (S.received, S.cancelled): (Side.school, None),
    (S.accepted, S.cancelled): (Side.school, None),
    (S.contacted, S.cancelled): (Side.school, None),
    (S.enrolled, S.cancelled): (Side.school, None),
    (S.sent, S.expired): (Side.system, Reason.no_response),
    (S.received, S.expired): (Side.system, Reason.no_response),
}
PAIRS = list(itertools.product(Status, Status))


@pytest.mark.parametrize(("current", "target"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_every_pair_of_statuses(current: Status, target: Status) -> None:
    expected = EXPECTED.get((current, target))
    for side in Side:
        reason = expected[1] if expected else None
        refusal = check(current, target, side, reason)
        if expected is None:
            assert refusal is not None and refusal.code == "invalid_transition"
        elif side is expected[0]:
            assert refusal is None, refusal
        elif side is Side.system and target is S.cancelled:
            assert check(current, target, side, Reason.consent_revoked) is None
        else:
            assert refusal is not None and refusal.code == "transition_not_permitted"


def test_terminal_statuses_go_nowhere() -> None:
    for status in set(Status) - OPEN:
        assert status.is_closed
        for side in Side:
            assert next_statuses(status, side) == []


@pytest.mark.parametrize("target", [S.declined, S.not_completed])
def test_declined_and_not_completed_need_a_reason(target: Status) -> None:
    current = S.received if target is S.declined else S.accepted
    refusal = check(current, target, Side.provider, None)
    assert refusal is not None and refusal.code == "reason_required"


def test_a_reason_must_fit_the_status() -> None:
    wrong = check(S.received, S.declined, Side.provider, Reason.could_not_contact)
    assert wrong is not None and wrong.code == "invalid_reason"
    none_taken = check(S.received, S.accepted, Side.provider, Reason.other)
    assert none_taken is not None and none_taken.code == "invalid_reason"


def test_only_the_system_cancels_for_a_revoked_consent() -> None:
    school = check(S.accepted, S.cancelled, Side.school, Reason.consent_revoked)
    assert school is not None and school.code == "invalid_reason"
    assert check(S.accepted, S.cancelled, Side.school, Reason.no_longer_needed) is None
    assert check(S.accepted, S.cancelled, Side.system, None) is not None


def test_what_each_side_is_offered() -> None:
    assert next_statuses(S.received, Side.provider) == [S.accepted, S.declined]
    assert next_statuses(S.accepted, Side.provider) == [S.contacted, S.enrolled, S.not_completed]
    assert next_statuses(S.sent, Side.school) == [S.cancelled]
    assert next_statuses(S.sent, Side.system) == [S.received, S.expired]


def test_fhir_task_statuses() -> None:
    assert S.declined.fhir_task_status == "rejected"
    assert S.not_completed.fhir_task_status == "failed"
    assert S.expired.fhir_task_status == "cancelled"


def test_plan_says_which_timestamps_a_move_sets() -> None:
    assert plan(S.sent, S.received, Side.system).stamps == ("received_at",)
    assert plan(S.received, S.accepted, Side.provider).stamps == ("responded_at",)
    declined = plan(S.received, S.declined, Side.provider, Reason.no_capacity)
    assert declined.stamps == ("responded_at", "closed_at") and declined.sets_reason
    # Enrolling straight from accepted records the first contact then; not twice.
    assert plan(S.accepted, S.enrolled, Side.provider).stamps == ("contacted_at", "enrolled_at")
    assert plan(S.contacted, S.enrolled, Side.provider, contacted=True).stamps == ("enrolled_at",)
    assert not plan(S.accepted, S.contacted, Side.provider).sets_reason


def test_plan_refuses_with_the_status_the_api_answers() -> None:
    assert plan(S.completed, S.accepted, Side.provider).refusal.status == 409  # type: ignore[union-attr]
    assert plan(S.received, S.accepted, Side.school).refusal.status == 403  # type: ignore[union-attr]
    assert plan(S.received, S.declined, Side.provider).refusal.status == 422  # type: ignore[union-attr]
    refused = plan(S.accepted, S.expired, Side.system, Reason.no_response)
    assert not refused.allowed and refused.stamps == ()
