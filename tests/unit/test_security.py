"""Token verification and claims mapping, in every mode."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.datastructures import Headers

from commons.config import ConfigError, Settings
from commons.domain.errors import Unauthorized
from time_tracker_api.security import TokenVerifier, bearer_token, identity_from

SECRET = "unit-secret-" + "y" * 40
TENANT = "cc0c2d66-0f2b-4b39-8b3f-0123456789ab"


def hs_settings(**kw: Any) -> Settings:
    return Settings(jwt_secret=SECRET, **kw)


def claims(**kw: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"oid": "user-1", "tid": TENANT, "emails": ["ana@example.com"], "exp": now + 600, "iat": now}
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


def hs_token(secret: str = SECRET, **kw: Any) -> str:
    return jwt.encode(claims(**kw), secret, algorithm="HS256")


def test_valid_hs256_token_gives_the_claims() -> None:
    assert TokenVerifier(hs_settings()).claims(hs_token())["oid"] == "user-1"


def test_expired_token_is_rejected() -> None:
    with pytest.raises(Unauthorized, match="expired"):
        TokenVerifier(hs_settings()).claims(hs_token(exp=int(time.time()) - 3600))


def test_token_without_expiry_is_rejected() -> None:
    with pytest.raises(Unauthorized):
        TokenVerifier(hs_settings()).claims(jwt.encode({"oid": "u", "tid": TENANT}, SECRET, algorithm="HS256"))


def test_token_signed_with_another_key_is_rejected() -> None:
    with pytest.raises(Unauthorized, match="Invalid token"):
        TokenVerifier(hs_settings()).claims(hs_token(secret="another-secret-" + "z" * 40))


def test_alg_none_is_rejected_in_every_mode() -> None:
    unsigned = jwt.encode(claims(), key=None, algorithm="none")
    for settings in (hs_settings(), Settings(jwt_trust_upstream=True)):
        with pytest.raises(Unauthorized, match="algorithm"):
            TokenVerifier(settings).claims(unsigned)


def test_garbage_token_is_malformed() -> None:
    with pytest.raises(Unauthorized, match="Malformed"):
        TokenVerifier(hs_settings()).claims("not.a.jwt")


def test_wrong_audience_and_issuer_are_rejected_when_configured() -> None:
    verifier = TokenVerifier(hs_settings(jwt_audience="tt-api", jwt_issuer="https://issuer/"))
    assert verifier.claims(hs_token(aud="tt-api", iss="https://issuer/"))["oid"] == "user-1"
    with pytest.raises(Unauthorized, match="audience"):
        verifier.claims(hs_token(aud="other", iss="https://issuer/"))
    with pytest.raises(Unauthorized, match="issuer"):
        verifier.claims(hs_token(aud="tt-api", iss="https://evil/"))


def test_upstream_mode_skips_the_signature_but_not_expiry() -> None:
    verifier = TokenVerifier(Settings(jwt_trust_upstream=True))
    assert verifier.claims(hs_token(secret="whatever-" + "q" * 40))["oid"] == "user-1"
    with pytest.raises(Unauthorized, match="expired"):
        verifier.claims(hs_token(exp=int(time.time()) - 3600))


def test_no_verification_mode_refuses_to_start() -> None:
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        TokenVerifier(Settings())


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[tuple[str, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", use="sig", alg="RS256")
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/keys", key
    server.shutdown()


def test_rs256_tokens_are_checked_against_the_jwks(jwks_server: tuple[str, Any]) -> None:
    url, key = jwks_server
    verifier = TokenVerifier(Settings(jwt_jwks_url=url, jwt_audience="tt", jwt_issuer="https://b2c/"))
    good = jwt.encode(claims(aud="tt", iss="https://b2c/"), key, algorithm="RS256", headers={"kid": "k1"})
    assert verifier.claims(good)["oid"] == "user-1"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims(aud="tt", iss="https://b2c/"), other, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(Unauthorized):
        verifier.claims(forged)
    hs_forged = hs_token(aud="tt", iss="https://b2c/")
    with pytest.raises(Unauthorized):
        verifier.claims(hs_forged)


def test_jwks_url_without_audience_and_issuer_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="JWT_AUDIENCE"):
        Settings.from_env({"JWT_JWKS_URL": "http://x/keys"})


def test_claims_map_to_the_identity() -> None:
    identity = identity_from(claims(extension_role="time-tracker-admin", name="Ana"))
    assert (identity.user_id, identity.tenant_id, identity.email, identity.is_admin) == (
        "user-1",
        TENANT,
        "ana@example.com",
        True,
    )


def test_sub_is_the_fallback_user_id_and_roles_claim_grants_admin() -> None:
    identity = identity_from(claims(oid=None, sub="user-2", roles=["time-tracker-admin"]))
    assert identity.user_id == "user-2" and identity.is_admin


def test_plain_users_are_not_admins() -> None:
    assert not identity_from(claims(extension_role="client-role")).is_admin


def test_tenant_comes_from_a_b2c_issuer_when_tid_is_absent() -> None:
    iss = f"https://ioetec.b2clogin.com/{TENANT}/v2.0/"
    assert identity_from(claims(tid=None, iss=iss)).tenant_id == TENANT


@pytest.mark.parametrize(
    "issuer",
    [
        f"https://evil.com/x.b2clogin.com/{TENANT}/v2.0/",
        f"https://ioetecXb2clogin.com/{TENANT}/v2.0/",
        f"https://ioetec.b2clogin.com/{TENANT}/v2.0/extra",
        "https://ioetec.b2clogin.com/not-a-guid/v2.0/",
    ],
)
def test_issuers_not_matching_the_anchored_b2c_pattern_are_rejected(issuer: str) -> None:
    with pytest.raises(Unauthorized, match="iss"):
        identity_from(claims(tid=None, iss=issuer))


def test_missing_user_id_is_unauthorized() -> None:
    with pytest.raises(Unauthorized, match="oid"):
        identity_from(claims(oid=None))


def test_email_falls_back_to_email_then_preferred_username() -> None:
    assert identity_from(claims(emails=None, email="a@x.io")).email == "a@x.io"
    assert identity_from(claims(emails=None, preferred_username="b@x.io")).email == "b@x.io"


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"Authorization": "Bearer abc"}, "abc"),
        ({"Authorization": "bearer abc"}, "abc"),
        ({"token": "Bearer abc"}, "abc"),
        ({"token": "abc"}, "abc"),
    ],
)
def test_token_is_read_from_authorization_or_token_header(headers: dict[str, str], expected: str) -> None:
    assert bearer_token(Headers(headers)) == expected


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}])
def test_missing_bearer_token_is_unauthorized(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized):
        bearer_token(Headers(headers))


def test_a_verified_token_is_remembered_but_not_past_its_expiry() -> None:
    verifier = TokenVerifier(hs_settings(clock_skew_seconds=0))
    token = hs_token(exp=int(time.time()) + 1)
    assert verifier.claims(token)["oid"] == "user-1"
    assert verifier.claims(token)["oid"] == "user-1"
    time.sleep(1.2)
    with pytest.raises(Unauthorized, match="expired"):
        verifier.claims(token)


def test_upstream_mode_still_requires_an_expiry() -> None:
    token = jwt.encode({"oid": "u", "tid": TENANT}, "any-key-" + "k" * 40, algorithm="HS256")
    with pytest.raises(Unauthorized):
        TokenVerifier(Settings(jwt_trust_upstream=True)).claims(token)


def test_an_absurd_expiry_is_unauthorized_not_a_crash() -> None:
    for settings in (hs_settings(), Settings(jwt_trust_upstream=True)):
        with pytest.raises(Unauthorized):
            TokenVerifier(settings).claims(hs_token(exp=10**400))
