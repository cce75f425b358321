"""Bearer token -> Identity: verification modes, claims mapping, roles.

Three modes, chosen by the settings (never silently unverified):
- `rs256`: signature checked against the JWKS of `JWT_JWKS_URL`, with issuer and audience;
- `hs256`: a shared secret (development and tests), audience/issuer checked when configured;
- `upstream`: API Management already verified the token; it is decoded without the
  signature check, but `alg: none` and expired tokens are still refused.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import jwt
from flask import current_app, g, has_request_context, request

from commons.config import Settings
from commons.domain.errors import Unauthorized
from commons.domain.identity import Identity
from commons.domain.tokens import looks_like_token
from time_tracker_api.inputs import is_clean_text
from time_tracker_api.jwks import SigningKeys

log = logging.getLogger(__name__)

ADMIN_ROLE = "time-tracker-admin"
ACCEPTED_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "HS256", "HS384", "HS512"]
# https://<name>.b2clogin.com/<tenant-guid>/v2.0/ : anchored, dots escaped.
_B2C_ISSUER = re.compile(
    r"^https://[A-Za-z0-9-]+\.b2clogin\.com/"
    r"(?P<tenant>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/v2\.0/?$"
)
_GUID = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}(?![0-9a-fA-F])")

#: Verified tokens are remembered (until they expire, at most this long) to skip re-verifying.
VERIFIED_TTL_SECONDS = 300
VERIFIED_CACHE_SIZE = 4096


@dataclass(slots=True)
class _Verified:
    """A verified token as remembered: until `expiry` (epoch s), its claims, signing key id,
    and the identity once worked out."""

    expiry: float
    claims: dict[str, Any]
    kid: str | None
    identity: Identity | None = None


class TokenVerifier:
    """Turns a raw JWT into verified claims, in the configured mode."""

    def __init__(self, settings: Settings) -> None:
        settings.require_verification()
        self.mode = settings.verification_mode
        self.settings = settings
        self._verified: dict[str, _Verified] = {}
        self._lock = threading.Lock()
        self._jwks: SigningKeys | None = None
        if self.mode == "rs256":
            self._jwks = SigningKeys(
                settings.jwt_jwks_url or "", settings.jwks_refresh_seconds, settings.jwks_timeout_seconds
            )
        if self.mode == "upstream":
            log.warning(
                "JWT_TRUST_UPSTREAM=true: token signatures are NOT checked here; "
                "only run this behind API Management, which must verify them"
            )

    def claims(self, token: str) -> dict[str, Any]:
        """Verified claims of `token`; a token verified recently is not verified again."""
        return self._entry(token).claims

    def identity(self, token: str) -> Identity:
        """The caller `token` stands for: worked out once per token, like its verification
        (it was worked out twice a request, for the rate limits and for the resource)."""
        entry = self._entry(token)
        if entry.identity is None:
            entry.identity = identity_from(entry.claims, self.settings.jwt_issuer)
        return entry.identity

    def _entry(self, token: str) -> _Verified:
        """What is remembered of a verified token."""
        now = time.time()
        cached = self._verified.get(token)
        if cached is not None and cached.expiry > now:
            if self._jwks is not None:
                self._jwks.key(cached.kid)  # the key must still be listed
            return cached
        claims, kid = self._verify(token)
        try:
            expiry = min(float(claims.get("exp", now)) + self.settings.clock_skew_seconds, now + VERIFIED_TTL_SECONDS)
        except (TypeError, ValueError, OverflowError):
            raise Unauthorized("Invalid token") from None
        entry = _Verified(expiry, claims, kid)
        with self._lock:
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.pop(next(iter(self._verified)))
            self._verified[token] = entry
        return entry

    def _verify(self, token: str) -> tuple[dict[str, Any], str | None]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("Malformed token") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm.lower() == "none" or algorithm not in ACCEPTED_ALGORITHMS:
            raise Unauthorized("Unsupported token algorithm")
        s = self.settings
        kid = header.get("kid") if isinstance(header.get("kid"), str) else None
        options: Any = {
            "verify_aud": bool(s.jwt_audience),
            "verify_iss": bool(s.jwt_issuer),
            "verify_exp": True,
            "verify_nbf": True,
            "verify_iat": True,
            "require": ["exp"],
        }
        try:
            if self.mode == "upstream":
                # API Management verified the signature before us; every other check stays.
                key: Any = None
                algorithms = ACCEPTED_ALGORITHMS
                options["verify_signature"] = False
            elif self.mode == "rs256":
                assert self._jwks is not None
                key = self._jwks.key(kid)
                algorithms = ["RS256", "RS384", "RS512", "ES256", "ES384"]
            else:
                key = s.jwt_secret or ""
                algorithms = ["HS256", "HS384", "HS512"]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=s.jwt_audience,
                issuer=s.jwt_issuer,
                leeway=s.clock_skew_seconds,
                options=options,
            )
            return claims, kid
        except jwt.ExpiredSignatureError:
            raise Unauthorized("Token expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized("Token audience is not accepted") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("Token issuer is not accepted") from None
        except jwt.ImmatureSignatureError:
            raise Unauthorized("Token is not valid yet (nbf)") from None
        except (jwt.PyJWTError, OverflowError, ValueError, TypeError):
            raise Unauthorized("Invalid token") from None


#: The longest ids and texts the stores keep (longer ids are refused, longer texts cut).
MAX_USER_ID, MAX_TENANT_ID, MAX_NAME, MAX_EMAIL = 36, 64, 255, 320


def _id_claim(value: str, claim: str, limit: int) -> str:
    if len(value) > limit or not is_clean_text(value):
        raise Unauthorized(f'The claim "{claim}" is not a valid id (at most {limit} characters of text)')
    return value


def _text_claim(value: Any, limit: int) -> str | None:
    """Free text from a token (name, e-mail), made storable: never a reason to fail."""
    if not isinstance(value, str):
        return None
    value = value.encode("utf-8", "ignore").decode("utf-8").replace("\x00", "")[:limit]
    return value or None


def tenant_from(claims: Mapping[str, Any], pinned_issuer: str | None = None) -> str:
    """`tid`, else the tenant GUID of a B2C `iss`. When the configured issuer names a tenant
    (B2C and Azure AD issuers hold its GUID), the token's tenant must be that one."""
    pinned = _GUID.search(pinned_issuer or "")
    tid = claims.get("tid")
    if isinstance(tid, str) and tid:
        tenant = _id_claim(tid.lower(), "tid", MAX_TENANT_ID)
        if pinned and tenant != pinned.group(0).lower():
            raise Unauthorized('The claim "tid" names another tenant than the configured issuer')
        return tenant
    issuer = claims.get("iss")
    if not isinstance(issuer, str):
        raise Unauthorized('The claim "tid" (or a B2C "iss") is missing in the JWT')
    match = _B2C_ISSUER.match(issuer)
    if not match:
        raise Unauthorized('The format of the claim "iss" cannot be understood')
    return match.group("tenant").lower()


def _email_claim(value: str) -> str | None:
    """An e-mail is kept whole or not at all: a cut address would be someone else's."""
    return value if len(value) <= MAX_EMAIL and is_clean_text(value) else None


def email_from(claims: Mapping[str, Any]) -> str | None:
    emails = claims.get("emails")
    if isinstance(emails, list) and emails and isinstance(emails[0], str):
        return _email_claim(emails[0])
    for key in ("email", "preferred_username"):
        value = claims.get(key)
        if isinstance(value, str) and value:
            return _email_claim(value)
    return None


def is_admin_claim(claims: Mapping[str, Any]) -> bool:
    if claims.get("extension_role") == ADMIN_ROLE:
        return True
    roles = claims.get("roles")
    return isinstance(roles, list) and ADMIN_ROLE in roles


def identity_from(claims: Mapping[str, Any], pinned_issuer: str | None = None) -> Identity:
    """Map verified claims to the caller."""
    user_id = claims.get("oid") or claims.get("sub")
    if not isinstance(user_id, str) or not user_id:
        raise Unauthorized('The claim "oid" is missing in the JWT')
    return Identity(
        user_id=_id_claim(user_id, "oid", MAX_USER_ID),
        tenant_id=tenant_from(claims, pinned_issuer),
        email=email_from(claims),
        name=_text_claim(claims.get("name"), MAX_NAME),
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
        if scheme.lower() == "bearer":
            break
        if not value:
            raise Unauthorized(
                "The Authorization header lacks the 'Bearer ' prefix: send 'Authorization: Bearer <jwt>'"
            )
        raise Unauthorized(f"Only Bearer tokens are accepted, not {scheme[:20]!r}: send 'Authorization: Bearer <jwt>'")
    raise Unauthorized("Missing bearer token: send 'Authorization: Bearer <jwt>'")


def verified_caller() -> Identity:
    """The caller a JWT or a personal access token (`ttp_...`) stands for, verified once per
    request. A personal access token is read through the store on every request (a revoke
    holds at once in every worker)."""
    identity: Identity | None = g.get("verified_caller")
    if identity is None:
        services = current_app.extensions["time_tracker"]
        raw = bearer_token(request.headers)
        if looks_like_token(raw):
            from time_tracker_api.access_tokens import authenticate

            identity, g.access_token = authenticate(services.store, raw, request.method, services.clock())
        else:
            identity = services.verifier.identity(raw)
        g.verified_caller = identity
    return identity


def via_access_token() -> bool:
    """Whether this request authenticated with a personal access token."""
    return has_request_context() and g.get("access_token") is not None


def current_identity() -> Identity:
    """The verified caller of this request (the directory is told about them)."""
    identity: Identity | None = g.get("identity")
    if identity is None:
        caller = verified_caller()
        directory = current_app.extensions["time_tracker"].directory
        directory.seen(caller)
        identity = replace(caller, directory_admin=functools.cache(lambda: bool(directory.is_admin(caller))))
        g.identity = identity
    return identity


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
