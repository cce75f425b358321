"""Settings: the only module that reads the environment.

Every variable is read once, typed, and named in the error when it is wrong. A `.env` file in
the working directory is loaded first (it never overrides variables already set).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "instance" / "time_tracker.db"
DEFAULT_SQL_URI = f"sqlite:///{DEFAULT_SQLITE_PATH}"


class ConfigError(RuntimeError):
    """The configuration cannot work; the message names the variable."""


def _flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", "disabled"}:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from None


def _str(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip()


@dataclass(frozen=True)
class Settings:
    """Typed configuration of the service, the events app, migrations and cli.py."""

    sql_database_uri: str = DEFAULT_SQL_URI
    cosmos_connection_string: str | None = None
    cosmos_account_uri: str | None = None
    cosmos_master_key: str | None = None
    cosmos_database_name: str | None = None
    #: Off for single-endpoint servers (the test server); on for real multi-region accounts.
    cosmos_endpoint_discovery: bool = True
    #: A CA bundle to trust (the emulator's self-signed certificate), never "don't verify".
    cosmos_ca_bundle: str | None = None
    #: Throughput the migrations give the database: `autoscale:<max RU/s>` shared by every
    #: container (the default), `manual:<RU/s>` shared, or `serverless` (none to set).
    cosmos_throughput: str = "autoscale:1000"

    jwt_secret: str | None = None
    jwt_jwks_url: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_trust_upstream: bool = False
    #: Seconds of clock skew tolerated on `exp`/`nbf` and on "not in the future" rules.
    clock_skew_seconds: int = 60

    cors_origins: tuple[str, ...] = ("*",)
    debug: bool = False
    max_body_bytes: int = 1_000_000

    ms_client_id: str | None = None
    ms_secret: str | None = None
    ms_authority: str | None = None
    ms_scope: str | None = None
    ms_endpoint: str | None = None
    #: The B2C extension attributes that hold the roles.
    ms_role_attribute: str = "extension_1d76efa96f604499acc0c0ee116a1453_role"
    ms_test_role_attribute: str = "extension_1d76efa96f604499acc0c0ee116a1453_role_test"

    @property
    def uses_graph(self) -> bool:
        return all((self.ms_client_id, self.ms_secret, self.ms_authority, self.ms_scope, self.ms_endpoint))

    @property
    def uses_cosmos(self) -> bool:
        return bool(self.cosmos_connection_string or self.cosmos_account_uri)

    @property
    def verification_mode(self) -> str | None:
        """`rs256`, `hs256`, `upstream` or None when nothing is configured."""
        if self.jwt_jwks_url:
            return "rs256"
        if self.jwt_secret:
            return "hs256"
        if self.jwt_trust_upstream:
            return "upstream"
        return None

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, load_dotenv: bool = True) -> Settings:
        """Read the settings from `env` (default: the process environment plus `.env`)."""
        if env is None:
            if load_dotenv:
                from dotenv import load_dotenv as _load

                _load(Path.cwd() / ".env", override=False)
            env = os.environ
        sql_uri = _str(env, "SQL_DATABASE_URI") or _str(env, "SQLCONNSTR_DATABASE_URI")
        cosmos_conn = _str(env, "COSMOS_DATABASE_URI") or _str(env, "CUSTOMCONNSTR_COSMOS_DATABASE_URI")
        origins = _str(env, "CORS_ORIGINS", "*") or "*"
        settings = cls(
            sql_database_uri=sql_uri or DEFAULT_SQL_URI,
            cosmos_connection_string=cosmos_conn,
            cosmos_account_uri=_str(env, "DATABASE_ACCOUNT_URI"),
            cosmos_master_key=_str(env, "DATABASE_MASTER_KEY"),
            cosmos_database_name=_str(env, "DATABASE_NAME"),
            cosmos_endpoint_discovery=_flag(env, "COSMOS_ENDPOINT_DISCOVERY", True),
            cosmos_ca_bundle=_str(env, "COSMOS_CA_BUNDLE"),
            cosmos_throughput=_str(env, "COSMOS_THROUGHPUT") or cls.cosmos_throughput,
            jwt_secret=_str(env, "JWT_SECRET"),
            jwt_jwks_url=_str(env, "JWT_JWKS_URL"),
            jwt_audience=_str(env, "JWT_AUDIENCE"),
            jwt_issuer=_str(env, "JWT_ISSUER"),
            jwt_trust_upstream=_flag(env, "JWT_TRUST_UPSTREAM"),
            clock_skew_seconds=_int(env, "CLOCK_SKEW_SECONDS", 60),
            cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
            debug=_flag(env, "FLASK_DEBUG"),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 1_000_000),
            ms_client_id=_str(env, "MS_CLIENT_ID"),
            ms_secret=_str(env, "MS_SECRET"),
            ms_authority=_str(env, "MS_AUTHORITY"),
            ms_scope=_str(env, "MS_SCOPE"),
            ms_endpoint=_str(env, "MS_ENDPOINT"),
            ms_role_attribute=_str(env, "MS_ROLE_ATTRIBUTE") or cls.ms_role_attribute,
            ms_test_role_attribute=_str(env, "MS_TEST_ROLE_ATTRIBUTE") or cls.ms_test_role_attribute,
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        """Fail fast on combinations that cannot work."""
        if self.jwt_jwks_url and not (self.jwt_audience and self.jwt_issuer):
            raise ConfigError("JWT_JWKS_URL needs JWT_AUDIENCE and JWT_ISSUER (RS256 verification)")
        if self.cosmos_account_uri and not self.cosmos_master_key:
            raise ConfigError("DATABASE_ACCOUNT_URI is set but DATABASE_MASTER_KEY is not defined")
        if self.uses_cosmos and not self.cosmos_database_name:
            raise ConfigError("DATABASE_NAME is not defined (needed with a Cosmos DB account)")
        if not re.fullmatch(r"serverless|(autoscale|manual):[1-9][0-9]*", self.cosmos_throughput):
            raise ConfigError(
                "COSMOS_THROUGHPUT must be autoscale:<max RU/s>, manual:<RU/s> or serverless, "
                f"not {self.cosmos_throughput!r}"
            )

    def require_verification(self) -> None:
        """The API refuses to start without a way to verify tokens."""
        if self.verification_mode is None:
            raise ConfigError(
                "No token verification is configured: set JWT_SECRET (HS256, development), "
                "JWT_JWKS_URL + JWT_AUDIENCE + JWT_ISSUER (RS256, production), or "
                "JWT_TRUST_UPSTREAM=true behind API Management. `make run` sets a development "
                "JWT_SECRET in .env for you."
            )
