"""Roles an API key can carry."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    provider = "provider"
    school = "school"
    analyst = "analyst"
    partner_app = "partner_app"
    privacy_officer = "privacy_officer"
