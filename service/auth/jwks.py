"""An identity provider's signing keys, as this process last fetched them.

Each configured issuer has one `KeySet`. Its JSON Web Key Set is read from the issuer's
`jwks_uri` (configured, or discovered once from `<issuer>/.well-known/openid-configuration`)
and used for `oidc_jwks_ttl_s`. A token naming a key id the set does not hold makes it
fetch again at once, so a key rotated in at the issuer is picked up on its first token;
but never more often than `oidc_jwks_min_refresh_s`, so a flood of made-up key ids costs
the issuer one fetch. Concurrent callers wait for the one fetch under way.

When a fetch fails the last key set keeps serving (the failure is logged) and the next
try waits `oidc_jwks_min_refresh_s`; with no key set at all, callers get a 503.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from service.errors import Unavailable
from service.settings import OidcIssuer, Settings, check_fetch_url

log = logging.getLogger("youthlink.oidc")

# Key types of asymmetric signatures; an "oct" (shared secret) key is never used.
SIGNING_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})
MAX_DOCUMENT_BYTES = 512 * 1024
DISCOVERY_PATH = "/.well-known/openid-configuration"

JWK = dict[str, Any]


class IdentityProviderUnavailable(Unavailable):
    def __init__(self, issuer: str) -> None:
        super().__init__(
            "identity_provider_unavailable",
            f"The identity provider {issuer} could not be reached to check the token's "
            "signature; retry shortly.",
            retry_after_s=5,
        )


class FetchFailed(Exception):
    """A discovery document or key set could not be read (network, status, shape)."""


async def get_json(url: str, timeout_s: float) -> dict[str, Any]:
    """The JSON object at `url`: status 200, at most MAX_DOCUMENT_BYTES, no redirects."""
    try:
        async with (
            httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as http,
            http.stream("GET", url, headers={"Accept": "application/json"}) as response,
        ):
            if response.status_code != 200:
                raise FetchFailed(f"{url} answered {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise FetchFailed(f"{url} sent more than {MAX_DOCUMENT_BYTES} bytes")
    except httpx.HTTPError as error:
        raise FetchFailed(f"{url}: {error!r}") from error
    try:
        document = httpx.Response(200, content=bytes(body)).json()
    except ValueError as error:
        raise FetchFailed(f"{url} sent no JSON") from error
    if not isinstance(document, dict):
        raise FetchFailed(f"{url} sent no JSON object")
    return document


def signing_keys(document: dict[str, Any]) -> list[JWK]:
    """The keys of a JWKS document that can verify a signature (asymmetric, use absent
    or "sig"); keys of other kinds are left out, not an error."""
    listed = document.get("keys")
    if not isinstance(listed, list):
        raise FetchFailed("the key set has no 'keys' list")
    return [
        k
        for k in listed
        if isinstance(k, dict)
        and k.get("kty") in SIGNING_KEY_TYPES
        and k.get("use", "sig") == "sig"
        and isinstance(k.get("kid", ""), str)
    ]


class KeySet:
    """One issuer's signing keys, fetched on demand and kept for the TTL."""

    def __init__(
        self,
        issuer: OidcIssuer,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.jwks_uri = issuer.jwks_uri
        self.keys: list[JWK] = []
        self.fetched_at: float | None = None  # last successful fetch
        self.tried_at: float | None = None  # last attempt, successful or not
        self.fetches = 0
        self._ttl = settings.oidc_jwks_ttl_s
        self._min_refresh = settings.oidc_jwks_min_refresh_s
        self._timeout = settings.oidc_timeout_s
        self._clock = clock
        self._lock = asyncio.Lock()

    def find(self, kid: str | None) -> JWK | None:
        """The key with this id; without one, the set's only key (if it has one key)."""
        if kid is None:
            return self.keys[0] if len(self.keys) == 1 else None
        return next((k for k in self.keys if k.get("kid") == kid), None)

    async def key(self, kid: str | None) -> JWK | None:
        """The key `kid` names, fetching the set when it is due or (at most once per
        min-refresh interval) when the id is unknown. None: the issuer has no such key."""
        if self._expired() and not self._tried_recently():
            await self.refresh()
        if self.fetched_at is None:
            raise IdentityProviderUnavailable(self.issuer.issuer)
        found = self.find(kid)
        if found is None and not self._tried_recently():
            await self.refresh()
            found = self.find(kid)
        return found

    def _expired(self) -> bool:
        return self.fetched_at is None or self._clock() - self.fetched_at >= self._ttl

    def _tried_recently(self) -> bool:
        return self.tried_at is not None and self._clock() - self.tried_at < self._min_refresh

    async def refresh(self) -> None:
        """Fetch the key set, unless another caller did while this one waited."""
        asked = self._clock()
        async with self._lock:
            if self.tried_at is not None and self.tried_at >= asked:
                return  # fetched (or tried) while we waited: use that
            try:
                keys = await self._fetch()
            except FetchFailed as error:
                log.warning("key set of %s not fetched: %s", self.issuer.issuer, error)
                return
            finally:
                self.tried_at = self._clock()
                self.fetches += 1
            self.keys = keys
            self.fetched_at = self.tried_at
            log.info("key set of %s: %d signing keys", self.issuer.issuer, len(keys))

    async def _fetch(self) -> list[JWK]:
        if self.jwks_uri is None:
            self.jwks_uri = await self._discover()
        return signing_keys(await get_json(self.jwks_uri, self._timeout))

    async def _discover(self) -> str:
        """The issuer's jwks_uri from its discovery document, which must name the
        issuer exactly (OpenID Connect Discovery 1.0, section 4.3)."""
        url = self.issuer.issuer.rstrip("/") + DISCOVERY_PATH
        document = await get_json(url, self._timeout)
        if document.get("issuer") != self.issuer.issuer:
            raise FetchFailed(f"{url} names another issuer: {document.get('issuer')!r}")
        uri = document.get("jwks_uri")
        if not isinstance(uri, str):
            raise FetchFailed(f"{url} has no jwks_uri")
        try:
            return check_fetch_url(uri)
        except ValueError as error:
            raise FetchFailed(str(error)) from error
