"""Webhook event types (the names receivers subscribe to)."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    referral_created = "referral.created"
    referral_status_changed = "referral.status_changed"
    consent_revoked = "consent.revoked"
    consent_expired = "consent.expired"
    referral_message_posted = "referral.message_posted"
