"""The authorization matrix: for every operation of openapi/openapi.json, what each caller gets.

Keys are (METHOD, path template) exactly as the OpenAPI document spells them;
tests/authz/test_matrix.py fails when an operation has no entry, or an entry no operation.
Path parameters are filled with resources of organization A (provider A, school A; see
tests/authz/world.py), so "provider_b" and "school_b" are the foreign callers: for a
resource they may not see or change they get 404 (`FOREIGN`), never 403, so nobody
learns that it exists. 403 (`FORBIDDEN`) is only for a role that may never call the
operation, whatever the resource.

The rules (PRODUCT.md, service/auth/scope.py and each router):
- the directory (organizations, locations, active programs, search, HSDS, areas) is public;
  inactive programs are seen only by their organization and admins;
- organizations, locations and programs are changed by their own staff and admins;
- students and consents: only the owning school and admins (no provider, even one holding
  a referral: it sees the consented elements on the referral only);
- the audit trail of students: admins, and a school's privacy officer for its own
  students (who reads no student, consent or referral itself);
- referrals: the referring school, the receiving provider, admins (who read but never move);
- webhook endpoints: their organization and admins; API keys, search status, HSDS
  import, organization create/delete: admins; metrics: analysts, admins, schools and
  providers (their own referrals), not partner apps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

CALLERS = (
    "anonymous",
    "admin",
    "provider_a",
    "provider_b",
    "school_a",
    "school_b",
    "analyst",
    "partner_app",
    "privacy_officer_a",
)


class Outcome(StrEnum):
    OK = "2xx"
    UNAUTHENTICATED = "401"
    FORBIDDEN = "403"  # the caller's role may never call this operation
    FOREIGN = "404"  # the resource belongs to another organization, or is not public

    def matches(self, status: int) -> bool:
        return 200 <= status < 300 if self is Outcome.OK else status == int(self.value)


OK, UNAUTHENTICATED, FORBIDDEN, FOREIGN = Outcome


Expectation = Mapping[str, Outcome]


def public() -> Expectation:
    """Anyone, with or without a key."""
    return dict.fromkeys(CALLERS, OK)


def roles(ok: Iterable[str], foreign: Iterable[str] = ()) -> Expectation:
    """A key is needed: `ok` callers succeed, `foreign` ones get 404, other roles 403."""
    table = dict.fromkeys(CALLERS, FORBIDDEN)
    table["anonymous"] = UNAUTHENTICATED
    for caller in ok:
        table[caller] = OK
    for caller in foreign:
        table[caller] = FOREIGN
    return table


def visible_to(*ok: str) -> Expectation:
    """Optional authentication: `ok` callers see the resource, every other caller gets 404."""
    return {caller: OK if caller in ok else FOREIGN for caller in CALLERS}


ADMIN = roles(["admin"])
STAFF = ["admin", "provider_a", "provider_b", "school_a", "school_b"]
ORG_A_OWNED = roles(["admin", "provider_a"], foreign=["provider_b", "school_a", "school_b"])
PROGRAM_A = roles(["admin", "provider_a"], foreign=["provider_b"])
STUDENT_A = roles(["admin", "school_a"], foreign=["school_b"])
METRICS = roles([*STAFF, "analyst"])

MATRIX: dict[tuple[str, str], Expectation] = {
    # organizations and locations: public directory, written by their own staff
    ("GET", "/organizations"): public(),
    ("POST", "/organizations"): ADMIN,
    ("GET", "/organizations/{organization_id}"): public(),
    ("PATCH", "/organizations/{organization_id}"): ORG_A_OWNED,
    ("DELETE", "/organizations/{organization_id}"): ADMIN,
    ("GET", "/organizations/{organization_id}/locations"): public(),
    ("POST", "/organizations/{organization_id}/locations"): ORG_A_OWNED,
    ("GET", "/locations/{location_id}"): public(),
    ("PUT", "/locations/{location_id}"): ORG_A_OWNED,
    ("DELETE", "/locations/{location_id}"): ORG_A_OWNED,
    # programs: {program_id} is provider A's INACTIVE program, not public
    ("GET", "/programs"): public(),
    ("POST", "/programs"): PROGRAM_A,  # the body names provider A's organization
    ("GET", "/programs/{program_id}"): visible_to("admin", "provider_a"),
    ("PATCH", "/programs/{program_id}"): PROGRAM_A,
    ("DELETE", "/programs/{program_id}"): PROGRAM_A,
    ("POST", "/programs/{program_id}/verify"): PROGRAM_A,
    ("GET", "/programs/{program_id}/occurrences"): visible_to("admin", "provider_a"),
    ("GET", "/taxonomy-terms"): public(),
    ("GET", "/search/programs"): public(),
    ("GET", "/search/status"): ADMIN,
    ("GET", "/areas"): public(),
    ("GET", "/areas/{kind}/{code}"): public(),
    # students and consents: the owning school and admins only
    ("POST", "/students"): STUDENT_A,  # the body names school A
    ("GET", "/students"): roles(["admin", "school_a", "school_b"]),
    ("GET", "/students/{student_id}"): STUDENT_A,
    ("POST", "/students/lookup"): STUDENT_A,  # the body names school A
    ("PATCH", "/students/{student_id}"): STUDENT_A,
    ("GET", "/students/{student_id}/audit"): roles(["admin", "privacy_officer_a"]),
    ("GET", "/audit/access-log"): roles(["admin", "privacy_officer_a"]),
    ("POST", "/students/{student_id}/consents"): STUDENT_A,
    ("GET", "/students/{student_id}/consents"): STUDENT_A,
    ("GET", "/consents/{consent_id}"): STUDENT_A,
    ("POST", "/consents/{consent_id}/revoke"): STUDENT_A,
    # referrals: school A's student to provider A's program
    ("POST", "/referrals"): roles(["school_a"], foreign=["school_b"]),
    ("GET", "/referrals/inbox"): roles(["admin", "provider_a", "provider_b"]),
    ("GET", "/referrals/outbox"): roles(["admin", "school_a", "school_b"]),
    ("GET", "/referrals/{referral_id}"): roles(
        ["admin", "provider_a", "school_a"], foreign=["provider_b", "school_b"]
    ),
    ("POST", "/referrals/{referral_id}/transitions"): roles(
        ["provider_a", "school_a"], foreign=["provider_b", "school_b"]
    ),
    ("POST", "/referrals/{referral_id}/messages"): roles(
        ["provider_a", "school_a"], foreign=["provider_b", "school_b"]
    ),
    ("GET", "/referrals/{referral_id}/messages"): roles(
        ["admin", "provider_a", "school_a"], foreign=["provider_b", "school_b"]
    ),
    # webhook endpoints: {endpoint_id} is provider A's; the create body names provider A
    ("POST", "/webhook-endpoints"): ORG_A_OWNED,
    ("GET", "/webhook-endpoints"): roles(STAFF),
    ("PATCH", "/webhook-endpoints/{endpoint_id}"): ORG_A_OWNED,
    ("DELETE", "/webhook-endpoints/{endpoint_id}"): ORG_A_OWNED,
    ("GET", "/webhook-endpoints/{endpoint_id}/messages"): ORG_A_OWNED,
    # HSDS 3.0: the public directory, no key needed; import is for admins
    ("GET", "/hsds/"): public(),
    ("GET", "/hsds/services"): public(),
    ("GET", "/hsds/services/{service_id}"): public(),
    ("GET", "/hsds/service_at_locations"): public(),
    ("GET", "/hsds/service_at_locations/{service_at_location_id}"): public(),
    ("GET", "/hsds/organizations"): public(),
    ("GET", "/hsds/organizations/{organization_id}"): public(),
    ("GET", "/hsds/taxonomies"): public(),
    ("GET", "/hsds/taxonomies/{taxonomy_id}"): public(),
    ("GET", "/hsds/taxonomy_terms"): public(),
    ("GET", "/hsds/taxonomy_terms/{taxonomy_term_id}"): public(),
    ("POST", "/hsds/import"): ADMIN,
    # metrics: de-identified; schools and providers see only their own referrals
    ("GET", "/metrics/referrals"): METRICS,
    ("GET", "/metrics/directory"): METRICS,
    ("GET", "/metrics/access"): METRICS,
    ("GET", "/metrics/report"): METRICS,
    # operations
    ("GET", "/ready"): public(),
    ("GET", "/metrics"): public(),
    ("GET", "/health"): public(),
    # API keys: admins
    ("POST", "/api-keys"): ADMIN,
    ("GET", "/api-keys"): ADMIN,
    ("DELETE", "/api-keys/{key_id}"): ADMIN,
}
