"""Literal lists of FERPA consent records."""

from __future__ import annotations

from enum import StrEnum


class DataElement(StrEnum):
    """Records a consent may let the school disclose, and what each one shows a provider.

    contact           the student's name, date of birth, preferred language, and the
                      guardian's name, relationship, phone and email
    demographics      gender, race/ethnicity, home language, English learner, IEP/504
    school_and_grade  the school's name and the student's grade
    referral_reason   the coded reason and the counselor's description of the need
    notes             notes the school writes on the referral's timeline
    """

    contact = "contact"
    demographics = "demographics"
    school_and_grade = "school_and_grade"
    referral_reason = "referral_reason"
    notes = "notes"


class Signer(StrEnum):
    """Who signed: the parent or guardian, or the student once 18 (an eligible student)."""

    guardian = "guardian"
    student = "student"


class SignatureMethod(StrEnum):
    written = "written"
    electronic = "electronic"
