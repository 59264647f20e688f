"""One Settings object for the whole service, read from YOUTHLINK_* environment variables."""

from __future__ import annotations

import ipaddress
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
# Data the repository carries (see geodata/SOURCES.md and openapi/hsds/README.md).
GEODATA_DIR = REPO_ROOT / "geodata"
HSDS_DIR = REPO_ROOT / "openapi" / "hsds" / "3.0"


def _default_dir(directory: Path) -> Path | None:
    """The bundled directory, or None in an installed package that does not carry it."""
    return directory if directory.is_dir() else None


# What a person signed in through an identity provider may be (service/auth/roles.py
# Role's values; partner_app is for applications, which use API keys).
PersonRole = Literal["school", "provider", "privacy_officer", "analyst", "admin"]
# Asymmetric signatures only: never "none", never HS* (a shared secret, which an
# issuer's public key must not become).
SignatureAlgorithm = Literal[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"
]

DEFAULT_ALGORITHMS: tuple[SignatureAlgorithm, ...] = ("RS256", "PS256", "ES256")


def is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_fetch_url(url: str) -> str:
    """An https URL (http only on loopback: development and tests), with a host."""
    parts = urlsplit(url)
    if not parts.hostname or parts.scheme not in ("https", "http"):
        raise ValueError(f"{url!r} is not an absolute http(s) URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(f"{url!r}: use https (http is for loopback hosts only)")
    return url


class OidcIssuer(BaseModel):
    """One OpenID Connect identity provider whose people may call the API (README.md,
    "People and keys")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(
        max_length=200, description="The `iss` of its tokens, compared exactly (slash and all)"
    )
    audiences: list[str] = Field(
        min_length=1, description="Accepted `aud` values: a token must name at least one"
    )
    jwks_uri: str | None = Field(
        default=None,
        description="Its key set; unset: read from <issuer>/.well-known/openid-configuration",
    )
    organization_id: uuid.UUID | None = Field(
        default=None, description="The Youthlink organization all its people belong to"
    )
    organization_claim: str | None = Field(
        default=None,
        min_length=1,
        description="Or: the claim that holds each person's Youthlink organization id",
    )
    role_claim: str = Field(
        default="roles",
        min_length=1,
        description="The claim (a string or a list; a dotted path reads nested objects, "
        "e.g. realm_access.roles) whose values role_map maps",
    )
    role_map: dict[str, PersonRole] = Field(
        min_length=1,
        description="Claim value -> Youthlink role; the first entry the token carries wins",
    )
    name_claim: str = Field(default="name", min_length=1, description="The person's display name")
    algorithms: list[SignatureAlgorithm] = Field(
        default_factory=lambda: list(DEFAULT_ALGORITHMS),
        min_length=1,
        description="Signature algorithms accepted from this issuer",
    )

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        return check_fetch_url(value)

    @field_validator("jwks_uri")
    @classmethod
    def _jwks_url(cls, value: str | None) -> str | None:
        return None if value is None else check_fetch_url(value)

    @model_validator(mode="after")
    def _one_organization_source(self) -> OidcIssuer:
        if (self.organization_id is None) == (self.organization_claim is None):
            raise ValueError(f"{self.issuer}: give organization_id or organization_claim, not both")
        return self


class Settings(BaseSettings):
    """Every setting the service reads. Documented one by one in README.md."""

    model_config = SettingsConfigDict(env_prefix="YOUTHLINK_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/youthlink",
        description="SQLAlchemy URL of the PostgreSQL + PostGIS database (asyncpg driver).",
    )
    db_pool_size: int = Field(
        default=10,
        ge=1,
        le=200,
        description="Database connections each worker keeps for units of work (writes, "
        "searches, reports).",
    )
    db_read_pool_size: int = Field(
        default=10,
        ge=1,
        le=200,
        description="Connections each worker keeps for single statements in autocommit "
        "(plain asyncpg, service/reader.py): catalog and referral reads, API key lookups, a "
        "referral move of one statement; besides db_pool_size.",
    )
    db_max_overflow: int = Field(
        default=0,
        ge=0,
        le=200,
        description="Extra connections a worker may open beyond the pool under a burst; "
        "they close when returned, so each costs a connect (and TLS handshake) per use. "
        "0: requests wait for a pooled connection instead.",
    )
    db_pool_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="A request waiting longer than this for a pooled connection (either "
        "pool) answers 503.",
    )
    catalog_count_ttl_s: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="How long a worker keeps the total of a catalog list of 1,000 rows or "
        "more (its own writes drop it at once; 0: count every time).",
    )
    db_statement_timeout_ms: int = Field(default=15_000, ge=0)
    db_connect_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=120,
        description="A new database connection not made within this answers 503.",
    )
    geodata_dir: Path | None = Field(
        default_factory=lambda: _default_dir(GEODATA_DIR),
        description="Directory of GeoJSON / TIGER/Line zips loaded by `load-geodata`.",
    )
    hsds_dir: Path | None = Field(
        default_factory=lambda: _default_dir(HSDS_DIR),
        description="Directory of the Open Referral HSDS 3.0 schemas (tests only).",
    )
    city_geoid: str | None = Field(
        default=None,
        description="Census place GEOID of the city, to pick it out of a statewide TIGER file.",
    )
    seeds_dir: Path = Field(default=REPO_ROOT / "seeds")
    timezone: str = Field(default="America/New_York", description="Local time zone of schedules.")
    api_key_pepper: str = Field(
        default="youthlink-development-pepper",
        description="Secret mixed into API key hashes; set a long random value in production.",
    )
    oidc_issuers: list[OidcIssuer] = Field(
        default_factory=list,
        description="OpenID Connect identity providers whose people sign in with bearer "
        "tokens, as a JSON list of objects (README.md, People and keys). Empty: API keys only.",
    )
    oidc_leeway_s: float = Field(
        default=30,
        ge=0,
        le=300,
        description="Clock skew allowed when checking a token's exp, nbf and iat.",
    )
    oidc_jwks_ttl_s: float = Field(
        default=600,
        ge=1,
        le=86_400,
        description="How long each process uses an issuer's key set before fetching it again.",
    )
    oidc_jwks_min_refresh_s: float = Field(
        default=30,
        ge=0,
        le=3600,
        description="A token naming an unknown key id re-fetches the key set at most this "
        "often per issuer (a flood of made-up key ids costs the issuer one fetch).",
    )
    oidc_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="HTTP timeout of discovery and key set fetches.",
    )
    pii_keys: dict[str, SecretStr] = Field(
        default_factory=lambda: {
            "development": SecretStr("D4Z1jq2WrrPmGukpx7oLyoqKV7RkM6EebmbSedvuICY=")
        },
        description="Secrets that encrypt student PII, by key id, as JSON: "
        '{"2026-11": "<base64 of 32 random bytes>"}. `python -m service new-pii-key` makes '
        "one. Keep retired keys until `rotate-key` has re-sealed their rows. The default "
        "is a published development key: set your own in production.",
    )
    pii_active_key: str = Field(
        default="development",
        pattern=r"^[A-Za-z0-9._-]{1,32}$",
        description="Id of the key in YOUTHLINK_PII_KEYS that seals new PII.",
    )
    pii_retention_days: int = Field(
        default=365,
        ge=1,
        le=36_500,
        description="`purge` erases a student's PII this many days after their last referral "
        "closed (or after the record was made, if it never had one).",
    )
    meili_url: str | None = Field(
        default=None,
        description="Meilisearch base URL; when set, search uses Meilisearch instead of postgres.",
    )
    meili_master_key: str | None = Field(default=None, description="Meilisearch API key.")
    meili_index: str = Field(
        default="programs",
        pattern=r"^[A-Za-z0-9_-]{1,100}$",
        description="Name of the live Meilisearch index (reindex swaps a fresh one in).",
    )
    meili_timeout_s: float = Field(default=5.0, gt=0, le=120)
    search_synonyms_file: Path = Field(
        default=REPO_ROOT / "service" / "search" / "synonyms.json",
        description="Synonym groups both search engines use.",
    )
    search_cache_ttl_s: float = Field(
        default=30.0,
        ge=0,
        le=300,
        description="Seconds each API process reuses a search result (0 turns the cache off).",
    )
    search_cache_size: int = Field(
        default=2048, ge=1, le=1_000_000, description="Search results each API process keeps."
    )
    program_cache_size: int = Field(
        default=10_000,
        ge=0,
        le=1_000_000,
        description="Public program documents each API process keeps for reads without a "
        "key (0: none). They follow the search change log as the embedded index does, so an "
        "edit shows within search_poll_s; keyed reads always read the database. Off with "
        "Meilisearch (API processes then follow no log).",
    )
    search_poll_s: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="How often each index reads the change log (embedded: every API process; "
        "Meilisearch: the worker). Each step that finds changes costs an embedded index a "
        "commit and a new searcher (10-25 ms of CPU), however few the changes.",
    )
    search_log_retention_hours: float = Field(
        default=168,
        gt=0,
        le=24 * 365,
        description="Change log rows older than this are trimmed; an index whose cursor is "
        "older rebuilds itself.",
    )
    referral_response_business_days: int = Field(
        default=3,
        ge=1,
        le=60,
        description="A provider should first respond within this many business days.",
    )
    referral_contact_days: int = Field(
        default=14,
        ge=1,
        le=365,
        description="A provider should first contact the family within this many days.",
    )
    referral_expire_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="The worker expires referrals with no provider response after this many days.",
    )
    webhook_allow_http: bool = Field(
        default=False, description="Allow http:// webhook URLs (development and tests only)."
    )
    webhook_allow_private_networks: bool = Field(
        default=False,
        description="Allow webhook URLs on loopback or private networks (development and "
        "tests only): otherwise they are refused, against server-side request forgery.",
    )
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60)
    webhook_max_attempts: int = Field(
        default=8,
        ge=1,
        le=20,
        description="Deliveries tried this many times (backoff 30 s doubling) before giving up.",
    )
    min_cell: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Metrics computed from fewer students than this are withheld (suppressed).",
    )
    ready_max_search_lag_s: float = Field(
        default=300,
        gt=0,
        description="/ready answers 503 when the oldest unindexed catalog change is older.",
    )
    rate_limits_enabled: bool = Field(default=True, description="Apply the rate limits below.")
    rate_limit_search: str = Field(
        default="120/minute",
        pattern=r"^\d+ */ *(second|minute|hour|day)$",
        description="Searches (GET /search, /hsds) per API key, or per IP for anonymous callers.",
    )
    rate_limit_writes: str = Field(
        default="60/minute",
        pattern=r"^\d+ */ *(second|minute|hour|day)$",
        description="Writes (POST, PUT, PATCH, DELETE) per API key, or per IP.",
    )
    rate_limit_storage: str = Field(
        default="async+memory://",
        description="Where counts live: async+memory:// (per process) or "
        "async+redis://host:6379 (shared by every process).",
    )
    max_body_bytes: int = Field(default=1_000_000, ge=1_000, description="Largest request body.")
    max_import_bytes: int = Field(
        default=200_000_000, ge=1_000, description="Largest body of POST /hsds/import."
    )
    max_query_bytes: int = Field(default=4096, ge=256, description="Longest query string.")
    cors_allow_origins: list[str] = Field(default_factory=lambda: ["*"])
    log_level: str = "INFO"

    @field_validator("oidc_issuers")
    @classmethod
    def _distinct_issuers(cls, value: list[OidcIssuer]) -> list[OidcIssuer]:
        seen = [i.issuer for i in value]
        twice = sorted({i for i in seen if seen.count(i) > 1})
        if twice:
            raise ValueError(f"issuers configured twice: {twice}")
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
