"""The referral state machine (service/referrals/states.py) against PRODUCT.md, as
properties: of every single move, and of random sequences of moves (Hypothesis).

The oracle is the status table of PRODUCT.md read column by column ("set by", FHIR Task
status, which statuses close the loop, which carry a reason) and the loop's order, not
states.TRANSITIONS; test_states.py checks the table pair by pair. A single move is one of
4,500 (from, to, side, reason), so those are all tried; walks are where Hypothesis
searches. next_statuses() is what a UI offers each side, so it leaves out the system's
cancellation on a revoked consent, the one accepted move it does not list.
"""

from __future__ import annotations

from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from service.referrals.states import (
    AWAITING_RESPONSE,
    CANCEL_REASONS,
    OPEN,
    REASONS,
    SYSTEM_CANCEL_REASONS,
    TERMINAL,
    Reason,
    Side,
    Status,
    check,
    next_statuses,
)

S = Status
# PRODUCT.md, column "set by" (sent is set by the school when it creates the referral;
# cancelled is also the system's when a consent is revoked).
SET_BY = {
    S.received: {Side.system},
    S.accepted: {Side.provider},
    S.declined: {Side.provider},
    S.contacted: {Side.provider},
    S.enrolled: {Side.provider},
    S.completed: {Side.provider},
    S.not_completed: {Side.provider},
    S.cancelled: {Side.school, Side.system},
    S.expired: {Side.system},
}
CLOSED = {S.declined, S.completed, S.not_completed, S.cancelled, S.expired}  # PRODUCT.md
NEEDS_REASON = {S.declined, S.not_completed, S.expired}  # "with a reason (code)"
# FHIR R4 Task.status values that end a task.
FHIR_TERMINAL = {"rejected", "completed", "failed", "cancelled", "entered-in-error"}
# The loop's documented order: each status only after the ones before it.
STAGE = {
    S.sent: 0,
    S.received: 1,
    S.accepted: 2,
    S.contacted: 3,
    S.enrolled: 4,
    **{s: 5 for s in CLOSED},
}
# What each closed status must have passed through (PRODUCT.md's meanings: a provider
# declines what it received; enrols, and so completes, only what it accepted; fails to
# complete only what it accepted; nobody responded to what expires).
MUST_FOLLOW = {
    S.declined: [S.sent, S.received],
    S.completed: [S.sent, S.received, S.accepted, S.enrolled],
    S.not_completed: [S.sent, S.received, S.accepted],
    S.expired: [S.sent],
    S.cancelled: [S.sent],
}
REFUSAL_CODES = {
    "invalid_transition",
    "transition_not_permitted",
    "reason_required",
    "invalid_reason",
}

statuses = st.sampled_from(list(Status))
sides = st.sampled_from(list(Side))
reasons = st.none() | st.sampled_from(list(Reason))
MOVES = settings(max_examples=200, deadline=None)


def _accepted_moves(current: Status) -> set[tuple[Status, Side, Reason | None]]:
    return {
        (target, side, reason)
        for target in Status
        for side in Side
        for reason in [None, *Reason]
        if check(current, target, side, reason) is None
    }


def _reachable() -> dict[Status, list[Status]]:
    """Every status a referral can reach from sent, with one shortest path there."""
    paths = {S.sent: [S.sent]}
    queue = deque([S.sent])
    while queue:
        current = queue.popleft()
        for target, _, _ in _accepted_moves(current):
            if target not in paths:
                paths[target] = [*paths[current], target]
                queue.append(target)
    return paths


REACHABLE = _reachable()


def test_the_product_table_is_the_module_table() -> None:
    assert set(TERMINAL) == CLOSED
    assert {s for s in Status if s.is_closed} == CLOSED
    assert set(OPEN) == set(Status) - CLOSED
    assert set(REASONS) >= NEEDS_REASON


def test_every_status_is_reachable_from_sent_and_every_loop_can_close() -> None:
    assert set(REACHABLE) == set(Status)
    for status in OPEN:
        # The school can always withdraw an open referral: no loop stays open for ever.
        assert check(status, S.cancelled, Side.school, None) is None
        assert any(t in CLOSED for t, _, _ in _accepted_moves(status))


def test_the_move_graph_has_no_cycle() -> None:
    for current in Status:
        for target, _, _ in _accepted_moves(current):
            assert STAGE[target] > STAGE[current], f"{current} -> {target}"


def assert_documented(current: Status, target: Status, side: Side, reason: Reason | None) -> None:
    """What PRODUCT.md says of a move that check() accepted."""
    assert current in OPEN and target is not current
    assert side in SET_BY[target], f"{side} set {target}"
    assert STAGE[target] > STAGE[current], f"{current} -> {target} goes back"
    if side is Side.system and target is S.cancelled:
        assert reason in SYSTEM_CANCEL_REASONS  # the system cancels for revoked consent only
        return
    assert target in next_statuses(current, side)  # what a UI offers is what is allowed
    if target in NEEDS_REASON:
        assert reason in REASONS[target]
    elif target is S.cancelled:
        assert reason is None or reason in CANCEL_REASONS
    else:
        assert reason is None
    if target is S.expired:
        assert current in AWAITING_RESPONSE  # expiry is for no provider response only


def test_every_accepted_move_is_documented() -> None:
    """All 4,500 (from, to, side, reason) combinations: small enough to try them all."""
    for current in Status:
        for target, side, reason in _accepted_moves(current):
            assert_documented(current, target, side, reason)


@given(current=statuses, target=statuses, side=sides, reason=reasons)
@MOVES
def test_check_is_pure_and_its_refusals_are_coded(
    current: Status, target: Status, side: Side, reason: Reason | None
) -> None:
    refusal = check(current, target, side, reason)
    assert refusal == check(current, target, side, reason)
    if refusal is not None:
        assert refusal.code in REFUSAL_CODES and refusal.detail
        if current in CLOSED:
            assert refusal.code == "invalid_transition"


@given(current=st.sampled_from(sorted(CLOSED)), side=sides)
@MOVES
def test_a_closed_loop_admits_no_move(current: Status, side: Side) -> None:
    assert next_statuses(current, side) == []
    for target in Status:
        for reason in [None, *Reason]:
            refusal = check(current, target, side, reason)
            assert refusal is not None and refusal.code == "invalid_transition"


@given(current=statuses, side=sides)
@MOVES
def test_what_is_offered_is_accepted_with_a_fitting_reason(current: Status, side: Side) -> None:
    for target in next_statuses(current, side):
        fitting = REASONS.get(target)
        reason = min(fitting) if fitting else None
        assert check(current, target, side, reason) is None


def test_fhir_task_status_closes_with_the_loop() -> None:
    for status in Status:
        assert (status.fhir_task_status in FHIR_TERMINAL) == status.is_closed


# Every (target, side, reason) a caller could send, and the accepted moves out of each status.
ANY_MOVE = [(t, side, r) for t in Status for side in Side for r in [None, *Reason]]
ACCEPTED = {s: sorted(_accepted_moves(s), key=str) for s in Status}
# A step is (kind, i). Kinds 0-1 send ANY_MOVE[i], mostly refused; kinds 2-7 make the i-th
# accepted move that keeps the loop open, and 8-9 one that closes it (when there is
# none of the kind asked for, the other). So walks get deep and close every way there is.
steps = st.lists(st.tuples(st.integers(0, 9), st.integers(0, 10**6)), max_size=12)


def _pick(status: Status, kind: int, index: int) -> tuple[Status, Side, Reason | None]:
    if kind < 2 or not ACCEPTED[status]:
        return ANY_MOVE[index % len(ANY_MOVE)]
    forward = [m for m in ACCEPTED[status] if m[0] not in CLOSED]
    closing = [m for m in ACCEPTED[status] if m[0] in CLOSED]
    chosen = (forward or closing) if kind < 8 else (closing or forward)
    # One target and side first, then one of its reasons: cancelling has four.
    ways = sorted({(t, side) for t, side, _ in chosen}, key=str)
    target, side = ways[index % len(ways)]
    fitting = [r for t, sd, r in chosen if (t, sd) == (target, side)]
    return target, side, fitting[index // len(ways) % len(fitting)]


def walk(moves: list[tuple[int, int]]) -> list[Status]:
    """Move one referral as `moves` say; check every step; return its statuses."""
    status, history = S.sent, [S.sent]
    for kind, index in moves:
        target, side, reason = _pick(status, kind, index)
        offers = [next_statuses(status, s) for s in Side]
        refusal = check(status, target, side, reason)
        if refusal is None:
            assert_documented(status, target, side, reason)
            status = target
            history.append(target)
        else:
            # A refused move changes nothing: same offers, and the same refusal again.
            assert kind < 2 or status in CLOSED, "an accepted move was refused"
            assert [next_statuses(status, s) for s in Side] == offers
            assert check(status, target, side, reason) == refusal
        # The documented order: stages only go forward, the loop closes once, at the end.
        stages = [STAGE[s] for s in history]
        assert stages == sorted(stages) and len(set(stages)) == len(stages)
        assert not any(s in CLOSED for s in history[:-1])
        assert status in REACHABLE and status.is_closed == (status in CLOSED)
        if status in CLOSED:
            seen = iter(history)
            assert all(step in seen for step in MUST_FOLLOW[status]), history
            assert all(next_statuses(status, s) == [] for s in Side)
    return history


@given(steps)
@settings(max_examples=300, deadline=None)
def test_random_walks_keep_the_documented_order(moves: list[tuple[int, int]]) -> None:
    walk(moves)
