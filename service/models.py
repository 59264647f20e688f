"""Imports every ORM module so that Base.metadata knows every table (Alembic, tests)."""

from service import idempotency
from service.audit import models as audit_models
from service.auth import models as auth_models
from service.catalog import models as catalog_models
from service.consent import models as consent_models
from service.db import Base
from service.geo import models as geo_models
from service.metrics import models as metrics_models
from service.referrals import models as referral_models
from service.search import models as search_models
from service.students import models as student_models
from service.webhooks import models as webhook_models

metadata = Base.metadata

__all__ = [
    "audit_models",
    "auth_models",
    "catalog_models",
    "consent_models",
    "geo_models",
    "idempotency",
    "metadata",
    "metrics_models",
    "referral_models",
    "search_models",
    "student_models",
    "webhook_models",
]
