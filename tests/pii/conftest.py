"""The referral tests' world (orgs, keys, a program, a student and consent) serves here too."""

from tests.referrals.conftest import world  # noqa: F401
