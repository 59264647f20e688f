"""A real OpenID Connect issuer on loopback for the tests: discovery documents and key
sets over HTTP (a `ThreadingHTTPServer` in a thread), RSA and EC keys made with
`cryptography`, tokens signed with PyJWT.

One server per test process; each test takes a `Tenant` of its own (an issuer at
`http://127.0.0.1:<port>/<name>`), so key sets, rotations and fetch counts never mix.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from service.settings import Settings, get_settings

AUDIENCE = "youthlink-api"
ROLE_MAP = {
    "counselor": "school",
    "privacy": "privacy_officer",
    "coordinator": "provider",
    "district-it": "admin",
}
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Tenant:
    """One issuer: its keys (by kid), which of them its JWKS publishes, and how often
    its documents were fetched."""

    def __init__(self, base_url: str) -> None:
        self.name = uuid.uuid4().hex[:12]
        self.issuer = f"{base_url}/{self.name}"
        self.keys: dict[str, PrivateKey] = {}
        self.published: list[str] = []
        self.jwks_fetches = 0
        self.discovery_fetches = 0
        self.down = False  # answer 503 to everything
        self.add_key("rsa-1")

    def add_key(
        self, kid: str, kind: str = "RSA", *, publish: bool = True, bits: int = 2048
    ) -> None:
        key: PrivateKey = (
            rsa.generate_private_key(public_exponent=65537, key_size=bits)
            if kind == "RSA"
            else ec.generate_private_key(ec.SECP256R1())
        )
        self.keys[kid] = key
        if publish:
            self.published.append(kid)

    def rotate(self, kid: str) -> None:
        """A new signing key replaces every old one in the published set."""
        self.add_key(kid, publish=False)
        self.published = [kid]

    def jwk(self, kid: str) -> dict[str, Any]:
        key = self.keys[kid].public_key()
        algorithm: Any = (
            jwt.algorithms.RSAAlgorithm
            if isinstance(key, rsa.RSAPublicKey)
            else jwt.algorithms.ECAlgorithm
        )
        return {**algorithm.to_jwk(key, as_dict=True), "kid": kid, "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk(kid) for kid in self.published]}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{self.issuer}/jwks",
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        }

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "dana-7",
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 300,
            "name": "Dana Whitfield",
            "roles": ["counselor"],
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(
        self,
        kid: str = "rsa-1",
        alg: str = "RS256",
        headers: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        header = {"kid": kid, **(headers or {})}
        return jwt.encode(self.claims(**overrides), self.keys[kid], algorithm=alg, headers=header)

    def unsigned(self, **overrides: Any) -> str:
        """An alg "none" token: no signature at all."""
        header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        payload = b64url(json.dumps(self.claims(**overrides)).encode())
        return f"{header}.{payload}."

    def hs256_with_public_key(self, kid: str = "rsa-1") -> str:
        """The old confusion attack: HMAC "signed" with the issuer's public key as secret."""
        secret = (
            self.keys[kid]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        payload = b64url(json.dumps(self.claims()).encode())
        signing_input = f"{header}.{payload}".encode()
        signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
        return f"{header}.{payload}.{b64url(signature)}"

    def config(self, **overrides: Any) -> dict[str, Any]:
        """This issuer's entry of YOUTHLINK_OIDC_ISSUERS."""
        return {"issuer": self.issuer, "audiences": [AUDIENCE], "role_map": ROLE_MAP, **overrides}


class Issuers:
    """The loopback server and its tenants."""

    def __init__(self) -> None:
        tenants: dict[str, Tenant] = {}
        self.tenants = tenants

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name, _, rest = self.path.lstrip("/").partition("/")
                tenant = tenants.get(name)
                if tenant is None:
                    self._send(404, {"error": "no such issuer"})
                elif tenant.down:
                    self._send(503, {"error": "down for maintenance"})
                elif rest == ".well-known/openid-configuration":
                    tenant.discovery_fetches += 1
                    self._send(200, tenant.discovery())
                elif rest == "jwks":
                    tenant.jwks_fetches += 1
                    self._send(200, tenant.jwks())
                else:
                    self._send(404, {"error": "not found"})

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def tenant(self) -> Tenant:
        tenant = Tenant(self.base_url)
        self.tenants[tenant.name] = tenant
        return tenant

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def configured(**values: Any) -> Iterator[Settings]:
    """The app's settings (get_settings()) with `values` for the duration, validated as
    YOUTHLINK_* variables would be; the same object, as other tests patch it, so what
    else they hold is untouched, and the old values come back after."""
    checked = Settings(**values)
    current = get_settings()
    before = {name: getattr(current, name) for name in values}
    for name in values:
        setattr(current, name, getattr(checked, name))
    try:
        yield current
    finally:
        for name, value in before.items():
            setattr(current, name, value)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
