"""Imports every ORM module so that Base.metadata knows every table (Alembic, tests)."""

from service.auth import models as auth_models
from service.catalog import models as catalog_models
from service.db import Base
from service.geo import models as geo_models
from service.search import models as search_models

metadata = Base.metadata

__all__ = ["auth_models", "catalog_models", "geo_models", "metadata", "search_models"]
