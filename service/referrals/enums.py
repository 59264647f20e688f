"""What a referral is for and how soon it matters (statuses live in states.py)."""

from __future__ import annotations

from enum import StrEnum


class Need(StrEnum):
    """The coded reason a school refers a student."""

    academic_support = "academic_support"
    attendance = "attendance"
    behavior = "behavior"
    mental_health = "mental_health"
    social_skills = "social_skills"
    mentoring = "mentoring"
    enrichment = "enrichment"
    college_career = "college_career"
    family_support = "family_support"
    basic_needs = "basic_needs"
    health = "health"
    other = "other"


class Urgency(StrEnum):
    routine = "routine"
    soon = "soon"
    urgent = "urgent"


class MessageKind(StrEnum):
    message = "message"
    information_request = "information_request"  # the provider asks the school
    information_response = "information_response"  # the school answers one request
