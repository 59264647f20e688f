"""OpenAPI links: how the id in one response feeds the next operation.

A client (or a generator of clients, or schemathesis's stateful tests) reads these to
know that `POST /students` answers with the id `GET /students/{student_id}` takes, that a
consent's `student_id` is what `POST /referrals` needs, and that the ETag of a response
is what a later write sends as `If-Match`. Links only ever read from the response they
sit on. Lists link to the reads of their items, never to their writes: following a list
to a delete is not something a client should be told to do.
"""

from __future__ import annotations

from typing import Any

ID = "$response.body#/id"
ETAG = "$response.header.ETag"
EACH = "$response.body#/contents/*/id"  # any item of a page


def _link(
    operation_id: str,
    description: str,
    parameters: dict[str, str] | None = None,
    body: dict[str, str] | None = None,
) -> dict[str, Any]:
    link: dict[str, Any] = {"operationId": operation_id, "description": description}
    if parameters:
        link["parameters"] = parameters
    if body:
        link["requestBody"] = body
    return link


def _resource(
    param: str, get: str, noun: str, update: str | None = None, delete: str | None = None
) -> dict[str, dict[str, Any]]:
    """Read, and write under If-Match, the resource a response describes."""
    links = {f"Get{noun}": _link(get, f"Read this {noun.lower()}", {param: ID})}
    if update:
        links[f"Update{noun}"] = _link(
            update, f"Change this {noun.lower()}", {param: ID, "header.If-Match": ETAG}
        )
    if delete:
        links[f"Delete{noun}"] = _link(
            delete, f"Delete this {noun.lower()}", {param: ID, "header.If-Match": ETAG}
        )
    return links


def _organization() -> dict[str, dict[str, Any]]:
    org = "organization_id"
    return {
        **_resource(
            org, "organizations_get", "Organization", "organizations_update", "organizations_delete"
        ),
        "ListLocations": _link("locations_list", "Its locations", {org: ID}),
        "AddLocation": _link("locations_create", "Add a location", {org: ID}),
        "AddProgram": _link("programs_create", "Add a program", body={org: ID}),
        "ListPrograms": _link("programs_list", "Its programs", {f"query.{org}": ID}),
    }


def _program() -> dict[str, dict[str, Any]]:
    program = {"program_id": ID}
    return {
        **_resource("program_id", "programs_get", "Program", "programs_update", "programs_delete"),
        "VerifyProgram": _link("programs_verify", "Confirm it is current", program),
        "ProgramOccurrences": _link("programs_occurrences", "Its sessions", program),
        "HsdsService": _link("hsds_services_get", "As an HSDS service", {"service_id": ID}),
        "ReferToProgram": _link("referrals_create", "Refer a student to it", body=program),
    }


def _student() -> dict[str, dict[str, Any]]:
    student = {"student_id": ID}
    return {
        **_resource("student_id", "students_get", "Student", "students_update"),
        "StudentAudit": _link("students_audit", "Who saw or changed this student", student),
        "AddConsent": _link("consents_create", "Record a signed consent", student),
        "ListConsents": _link("consents_list", "Its consents", student),
        "ReferStudent": _link("referrals_create", "Refer this student", body=student),
    }


def _consent() -> dict[str, dict[str, Any]]:
    student = "$response.body#/student_id"
    return {
        **_resource("consent_id", "consents_get", "Consent"),
        "RevokeConsent": _link("consents_revoke", "Revoke it", {"consent_id": ID}),
        "ListConsents": _link("consents_list", "The student's consents", {"student_id": student}),
        "ReferStudent": _link(
            "referrals_create", "Refer the student under it", body={"student_id": student}
        ),
    }


def _referral() -> dict[str, dict[str, Any]]:
    return {
        **_resource("referral_id", "referrals_get", "Referral"),
        "MoveReferral": _link(
            "referrals_transition",
            "Move it on (or close it)",
            {"referral_id": ID, "header.If-Match": ETAG},
        ),
    }


def _each(operation_id: str, param: str, noun: str) -> dict[str, dict[str, Any]]:
    return {f"Get{noun}": _link(operation_id, f"Read one of the {noun.lower()}s", {param: EACH})}


def links() -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """operationId -> status -> link name -> link."""
    location = _resource(
        "location_id", "locations_get", "Location", "locations_replace", "locations_delete"
    )
    endpoint = {"endpoint_id": ID}
    return {
        "organizations_create": {"201": _organization()},
        "organizations_update": {"200": _organization()},
        "organizations_list": {
            "200": _each("organizations_get", "organization_id", "Organization")
        },
        "locations_create": {"201": location},
        "locations_replace": {"200": location},
        "locations_list": {"200": _each("locations_get", "location_id", "Location")},
        "programs_create": {"201": _program()},
        "programs_update": {"200": _program()},
        "programs_verify": {"200": _program()},
        "programs_list": {"200": _each("programs_get", "program_id", "Program")},
        "students_create": {"201": _student()},
        "students_update": {"200": _student()},
        "students_list": {"200": _each("students_get", "student_id", "Student")},
        "consents_create": {"201": _consent()},
        "consents_list": {"200": _each("consents_get", "consent_id", "Consent")},
        "referrals_create": {"201": _referral()},
        "referrals_get": {"200": _referral()},
        "referrals_transition": {"200": _referral()},
        "referrals_inbox": {"200": _each("referrals_get", "referral_id", "Referral")},
        "referrals_outbox": {"200": _each("referrals_get", "referral_id", "Referral")},
        "webhooks_create": {
            "201": {
                "EndpointMessages": _link("webhooks_messages", "Its deliveries", endpoint),
                "DeleteEndpoint": _link("webhooks_delete", "Unregister it", endpoint),
            }
        },
        "webhooks_list": {"200": _each("webhooks_messages", "endpoint_id", "Endpoint")},
        "api_keys_create": {
            "201": {"RevokeKey": _link("api_keys_revoke", "Revoke this key", {"key_id": ID})}
        },
        "hsds_services_list": {"200": _each("hsds_services_get", "service_id", "Service")},
        "hsds_organizations_list": {
            "200": _each("hsds_organizations_get", "organization_id", "Organization")
        },
        "hsds_taxonomy_terms_list": {
            "200": _each("hsds_taxonomy_terms_get", "taxonomy_term_id", "TaxonomyTerm")
        },
    }


def add_links(document: dict[str, Any]) -> None:
    """Put links() into the responses of an OpenAPI document, in place."""
    table = links()
    for item in document["paths"].values():
        for operation in item.values():
            for status, named in table.get(operation.get("operationId"), {}).items():
                operation["responses"][status]["links"] = named
