"""Bearer token -> Identity: verification modes, claims mapping, roles.

Three modes, chosen by the settings (never silently unverified):
- `rs256`: signature checked against the JWKS of `JWT_JWKS_URL`, with issuer and audience;
- `hs256`: a shared secret (development and tests), audience/issuer checked when configured;
- `upstream`: API Management already verified the token; it is decoded without the
  signature check, but `alg: none` and expired tokens are still refused.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import wraps
from typing import Any, TypeVar

import jwt
from flask import current_app, g, request

from commons.config import Settings
from commons.data_access_layer.events import Actor
from commons.domain.errors import Forbidden, Unauthorized

log = logging.getLogger(__name__)

ADMIN_ROLE = "time-tracker-admin"
ACCEPTED_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "HS256", "HS384", "HS512"]
# https://<name>.b2clogin.com/<tenant-guid>/v2.0/ : anchored, dots escaped.
_B2C_ISSUER = re.compile(
    r"^https://[A-Za-z0-9-]+\.b2clogin\.com/"
    r"(?P<tenant>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/v2\.0/?$"
)
# Only for JWT_TRUST_UPSTREAM=true: API Management verified the signature before us.
_UPSTREAM_OPTIONS: Any = {
    "verify_signature": False,  # upstream-trust mode only (see above)
    "verify_exp": True,
    "require": ["exp"],
}

Identity = Actor
#: Verified tokens are remembered (until they expire, at most this long) to skip re-verifying.
VERIFIED_TTL_SECONDS = 300
VERIFIED_CACHE_SIZE = 4096

F = TypeVar("F", bound=Callable[..., Any])


class TokenVerifier:
    """Turns a raw JWT into verified claims, in the configured mode."""

    def __init__(self, settings: Settings) -> None:
        settings.require_verification()
        self.mode = settings.verification_mode
        self.settings = settings
        self._verified: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._jwks: jwt.PyJWKClient | None = None
        if self.mode == "rs256":
            self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url or "", cache_keys=True, timeout=5)
        if self.mode == "upstream":
            log.warning(
                "JWT_TRUST_UPSTREAM=true: token signatures are NOT checked here; "
                "only run this behind API Management, which must verify them"
            )

    def claims(self, token: str) -> dict[str, Any]:
        """Verified claims of `token`; a token verified recently is not verified again."""
        now = time.time()
        cached = self._verified.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        claims = self._verify(token)
        try:
            expiry = min(float(claims.get("exp", now)) + self.settings.clock_skew_seconds, now + VERIFIED_TTL_SECONDS)
        except (TypeError, ValueError, OverflowError):
            raise Unauthorized("Invalid token") from None
        with self._lock:
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.pop(next(iter(self._verified)))
            self._verified[token] = (expiry, claims)
        return claims

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("Malformed token") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm.lower() == "none" or algorithm not in ACCEPTED_ALGORITHMS:
            raise Unauthorized("Unsupported token algorithm")
        s = self.settings
        try:
            if self.mode == "upstream":
                return jwt.decode(
                    token, options=_UPSTREAM_OPTIONS, algorithms=ACCEPTED_ALGORITHMS, leeway=s.clock_skew_seconds
                )
            if self.mode == "rs256":
                assert self._jwks is not None
                key = self._jwks.get_signing_key_from_jwt(token).key
                algorithms = ["RS256", "RS384", "RS512", "ES256", "ES384"]
            else:
                key = s.jwt_secret or ""
                algorithms = ["HS256", "HS384", "HS512"]
            options: Any = {"verify_aud": bool(s.jwt_audience), "require": ["exp"]}
            return jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=s.jwt_audience,
                issuer=s.jwt_issuer,
                leeway=s.clock_skew_seconds,
                options=options,  # type: ignore[arg-type]
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("Token expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized("Token audience is not accepted") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("Token issuer is not accepted") from None
        except jwt.PyJWKClientError:
            raise Unauthorized("Token signing key is unknown") from None
        except (jwt.PyJWTError, OverflowError, ValueError, TypeError):
            raise Unauthorized("Invalid token") from None


def tenant_from(claims: Mapping[str, Any]) -> str:
    tid = claims.get("tid")
    if isinstance(tid, str) and tid:
        return tid.lower()
    issuer = claims.get("iss")
    if not isinstance(issuer, str):
        raise Unauthorized('The claim "tid" (or a B2C "iss") is missing in the JWT')
    match = _B2C_ISSUER.match(issuer)
    if not match:
        raise Unauthorized('The format of the claim "iss" cannot be understood')
    return match.group("tenant").lower()


def email_from(claims: Mapping[str, Any]) -> str | None:
    emails = claims.get("emails")
    if isinstance(emails, list) and emails and isinstance(emails[0], str):
        return emails[0]
    for key in ("email", "preferred_username"):
        value = claims.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def is_admin_claim(claims: Mapping[str, Any]) -> bool:
    if claims.get("extension_role") == ADMIN_ROLE:
        return True
    roles = claims.get("roles")
    return isinstance(roles, list) and ADMIN_ROLE in roles


def identity_from(claims: Mapping[str, Any]) -> Identity:
    """Map verified claims to the caller."""
    user_id = claims.get("oid") or claims.get("sub")
    if not isinstance(user_id, str) or not user_id:
        raise Unauthorized('The claim "oid" is missing in the JWT')
    name = claims.get("name")
    return Identity(
        user_id=user_id,
        tenant_id=tenant_from(claims),
        email=email_from(claims),
        name=name if isinstance(name, str) else None,
        is_admin=is_admin_claim(claims),
    )


def bearer_token(headers: Mapping[str, str] | Any) -> str:
    """The token from `Authorization: Bearer x` or from the `token` header the newer UI sends."""
    for header in ("Authorization", "token"):
        raw = headers.get(header)
        if not raw:
            continue
        scheme, _, value = raw.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        if header == "token" and not value:
            return scheme
    raise Unauthorized("Missing bearer token: send 'Authorization: Bearer <jwt>'")


def current_identity() -> Identity:
    """The verified caller of this request; the directory is told about them and may make
    them an admin (its answer is cached for a short while)."""
    identity = g.get("identity")
    if identity is None:
        services = current_app.extensions["time_tracker"]
        identity = identity_from(services.verifier.claims(bearer_token(request.headers)))
        services.directory.seen(identity)
        if not identity.is_admin and services.directory.is_admin(identity):
            identity = replace(identity, is_admin=True)
        g.identity = identity
    return identity


def authenticated(func: F) -> F:
    """Resource method decorator: a valid token of some tenant is required."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        current_identity()
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def require_admin(identity: Identity) -> None:
    if not identity.is_admin:
        raise Forbidden("You don't have enough permissions.")


def mint_token(
    secret: str,
    *,
    user_id: str,
    tenant_id: str,
    email: str,
    admin: bool = False,
    name: str | None = None,
    ttl_seconds: int = 8 * 3600,
    audience: str | None = None,
    issuer: str | None = None,
) -> str:
    """A development token (HS256), shaped like a B2C id token."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "oid": user_id,
        "sub": user_id,
        "tid": tenant_id,
        "emails": [email],
        "name": name or email.split("@")[0],
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
    }
    if admin:
        claims["extension_role"] = ADMIN_ROLE
    if audience:
        claims["aud"] = audience
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm="HS256")
