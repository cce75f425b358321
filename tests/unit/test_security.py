"""Token verification and claims mapping, in every mode."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.datastructures import Headers

from commons.config import ConfigError, Settings
from commons.domain.errors import Unauthorized, Unavailable
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
    # A short poll: shutdown() waits for the loop to look (0.5 s by default, at every teardown).
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
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


class Jwks:
    """A loopback JWKS whose keys, status and delay a test changes."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.status = 200
        self.delay = 0.0
        self.fetches = 0

    def add(self, kid: str) -> Any:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.keys[kid] = key
        return key

    def document(self) -> bytes:
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            jwk.update(kid=kid, use="sig", alg="RS256")
            keys.append(jwk)
        return json.dumps({"keys": keys}).encode()


@pytest.fixture
def live_jwks() -> Iterator[tuple[str, Jwks]]:
    state = Jwks()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            state.fetches += 1
            time.sleep(state.delay)
            body = state.document() if state.status == 200 else b"<html>oops</html>"
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    # A short poll: shutdown() waits for the loop to look (0.5 s by default, at every teardown).
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/keys", state
    server.shutdown()


def rs_settings(url: str, **kw: Any) -> Settings:
    return Settings(jwt_jwks_url=url, jwt_audience="tt", jwt_issuer="https://b2c/", **kw)


def rs_token(key: Any, kid: str) -> str:
    return jwt.encode(claims(aud="tt", iss="https://b2c/"), key, algorithm="RS256", headers={"kid": kid})


def test_a_key_removed_from_the_jwks_is_refused_after_the_refresh(live_jwks: tuple[str, Jwks]) -> None:
    url, jwks = live_jwks
    old, new = jwks.add("old"), jwks.add("new")
    verifier = TokenVerifier(rs_settings(url, jwks_refresh_seconds=1))
    remembered = rs_token(old, "old")
    assert verifier.claims(remembered)["oid"] == "user-1"
    del jwks.keys["old"]
    time.sleep(1.2)
    with pytest.raises(Unauthorized, match="signing key"):
        verifier.claims(remembered)  # even a token verified before
    with pytest.raises(Unauthorized, match="signing key"):
        verifier.claims(rs_token(old, "old"))
    assert verifier.claims(rs_token(new, "new"))["oid"] == "user-1"


def test_a_key_added_to_the_jwks_is_fetched_when_a_token_names_it(live_jwks: tuple[str, Jwks]) -> None:
    url, jwks = live_jwks
    first = jwks.add("k1")
    verifier = TokenVerifier(rs_settings(url, jwks_refresh_seconds=3))
    assert verifier.claims(rs_token(first, "k1"))["oid"] == "user-1"
    second = jwks.add("k2")
    with pytest.raises(Unauthorized, match="signing key"):
        verifier.claims(rs_token(second, "k2"))  # just fetched: an unknown id does not fetch again
    time.sleep(1.6)
    assert verifier.claims(rs_token(second, "k2"))["oid"] == "user-1"
    assert jwks.fetches == 2


def test_a_jwks_answering_500_gives_a_quick_503(live_jwks: tuple[str, Jwks]) -> None:
    url, jwks = live_jwks
    key = jwks.add("k1")
    jwks.status = 500
    verifier = TokenVerifier(rs_settings(url))
    began = time.monotonic()
    with pytest.raises(Unavailable):
        verifier.claims(rs_token(key, "k1"))
    assert time.monotonic() - began < 1


def test_a_hanging_jwks_gives_503_within_the_timeout_and_requests_do_not_queue(live_jwks: tuple[str, Jwks]) -> None:
    url, jwks = live_jwks
    key = jwks.add("k1")
    jwks.delay = 10
    verifier = TokenVerifier(rs_settings(url, jwks_timeout_seconds=0.5))
    took: list[float] = []
    errors: list[Exception] = []

    def call() -> None:
        began = time.monotonic()
        try:
            verifier.claims(rs_token(key, "k1"))
        except Exception as error:  # noqa: BLE001 - collected and checked below
            errors.append(error)
        took.append(time.monotonic() - began)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 8 and all(isinstance(e, Unavailable) for e in errors)
    assert max(took) < 2.5, took
    assert jwks.fetches <= 2


def test_upstream_mode_honours_audience_issuer_and_nbf() -> None:
    verifier = TokenVerifier(Settings(jwt_trust_upstream=True, jwt_audience="tt", jwt_issuer="https://b2c/"))
    other = "any-key-" + "k" * 40
    assert verifier.claims(hs_token(secret=other, aud="tt", iss="https://b2c/"))["oid"] == "user-1"
    with pytest.raises(Unauthorized, match="audience"):
        verifier.claims(hs_token(secret=other, aud="else", iss="https://b2c/"))
    with pytest.raises(Unauthorized, match="issuer"):
        verifier.claims(hs_token(secret=other, aud="tt", iss="https://evil/"))
    with pytest.raises(Unauthorized, match="nbf"):
        verifier.claims(hs_token(secret=other, aud="tt", iss="https://b2c/", nbf=int(time.time()) + 3600))


def test_a_tid_of_another_tenant_than_the_pinned_issuer_is_refused() -> None:
    pinned = f"https://ioetec.b2clogin.com/{TENANT}/v2.0/"
    other = "aa0c2d66-0f2b-4b39-8b3f-0123456789ab"
    assert identity_from(claims(iss=pinned), pinned).tenant_id == TENANT
    with pytest.raises(Unauthorized, match="tid"):
        identity_from(claims(tid=other, iss=pinned), pinned)
    assert identity_from(claims(tid=other), None).tenant_id == other


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"JWT_SECRET": "x"}, "JWT_SECRET"),
        ({"JWT_SECRET": SECRET, "CLOCK_SKEW_SECONDS": "999999999"}, "CLOCK_SKEW_SECONDS"),
        ({"JWT_SECRET": SECRET, "CLOCK_SKEW_SECONDS": "-1"}, "CLOCK_SKEW_SECONDS"),
        ({"JWT_SECRET": SECRET, "MAX_BODY_BYTES": "-5"}, "MAX_BODY_BYTES"),
        ({"JWT_SECRET": SECRET, "MAX_BODY_BYTES": "0"}, "MAX_BODY_BYTES"),
        ({"JWT_SECRET": SECRET, "JWKS_REFRESH_SECONDS": "0"}, "JWKS_REFRESH_SECONDS"),
        ({"JWT_SECRET": SECRET, "DB_STATEMENT_TIMEOUT_SECONDS": "0"}, "DB_STATEMENT_TIMEOUT_SECONDS"),
        ({"JWT_SECRET": SECRET, "RATELIMIT_PER_USER": "lots"}, "RATELIMIT_PER_USER"),
    ],
)
def test_settings_out_of_range_refuse_to_start_naming_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(env)
    from time_tracker_api import create_app

    with pytest.raises(ConfigError, match=variable):
        create_app(Settings.from_env({"JWT_SECRET": SECRET}).with_overrides(**_override(variable, env[variable])))


def _override(variable: str, raw: str) -> dict[str, Any]:
    field = variable.lower()
    if variable == "JWT_SECRET":
        return {"jwt_secret": raw}
    default = getattr(Settings(), field)
    return {field: raw if isinstance(default, str) else type(default)(float(raw))}


def test_workers_are_counted_from_the_cgroup_cpu_quota(tmp_path: Any) -> None:
    from commons.config import available_cpus

    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert available_cpus(tmp_path) == min(2, len(os.sched_getaffinity(0)))
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert available_cpus(tmp_path) == len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert available_cpus(tmp_path) == 1


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


def test_an_over_long_or_unstorable_email_claim_is_dropped_and_a_long_name_cut() -> None:
    identity = identity_from(claims(emails=["e" * 400 + "@x.io"], name="n" * 300))
    assert identity.email is None and identity.name == "n" * 255
    assert identity_from(claims(emails=["a\u0000@x.io"])).email is None
    assert identity_from(claims(name="Ana \ud800P\u0000rez")).name == "Ana Prez"


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


@pytest.mark.parametrize(
    "value, says",
    [
        ("eyJhbGciOiJIUzI1NiJ9.e30.sig", "lacks the 'Bearer ' prefix"),
        ("Basic dXNlcjpwYXNz", "Only Bearer tokens are accepted"),
        ("Bearer ", "Missing bearer token"),
    ],
)
def test_an_authorization_header_without_bearer_says_what_is_missing(value: str, says: str) -> None:
    with pytest.raises(Unauthorized, match=says):
        bearer_token(Headers({"Authorization": value}))
