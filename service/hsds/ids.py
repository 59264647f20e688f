"""Identifiers of HSDS records our model does not store as rows of their own.

HSDS gives every record a UUID: a service's languages, a location's address, the
attribute linking a service to a taxonomy term. We derive them with UUIDv5 from the ids
we do store, so they are the same on every request and every export. (A
service_at_location is a stored row: program_locations.id.)
"""

from __future__ import annotations

import uuid

NAMESPACE = uuid.UUID("6f1d6c3e-4b55-5a1e-9a34-59f0a7b1c2d3")


def derived(kind: str, *parts: uuid.UUID | str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, ":".join([kind, *map(str, parts)]))
