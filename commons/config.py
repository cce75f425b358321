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


#: A JWT_SECRET shorter than this is refused (HS256 wants a key as long as its hash).
MIN_SECRET_BYTES = 32
_RATE = re.compile(r"^\s*\d+\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day)s?\s*$", re.IGNORECASE)


def available_cpus(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup v2 (`cpu.max`) or v1
    (`cpu.cfs_quota_us`) quota, so that a container limited to 2 CPUs on a 64-CPU host
    counts 2."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    quota: float | None = None
    try:
        limit, period = (cgroup_root / "cpu.max").read_text().split()[:2]
        if limit != "max":
            quota = int(limit) / int(period)
    except (OSError, ValueError):
        try:
            limit_us = int((cgroup_root / "cpu" / "cpu.cfs_quota_us").read_text())
            period_us = int((cgroup_root / "cpu" / "cpu.cfs_period_us").read_text())
            if limit_us > 0 and period_us > 0:
                quota = limit_us / period_us
        except (OSError, ValueError):
            pass
    if quota is not None:
        cpus = min(cpus, max(1, int(quota + 0.999)))
    return max(1, cpus)


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


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None


def _seconds_list(env: Mapping[str, str], name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"{name} must be seconds, comma separated (e.g. 5,30,120), not {raw!r}") from None


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
    #: RS256: the JWKS is fetched again this often; a key it no longer lists is refused.
    jwks_refresh_seconds: float = 300.0
    #: RS256: a JWKS fetch that takes longer fails (the request gets a quick 503).
    jwks_timeout_seconds: float = 3.0

    #: PostgreSQL: a statement (or a frozen server) is given up after this long (503).
    db_statement_timeout_seconds: float = 10.0
    #: PostgreSQL: opening a connection is given up after this long (503).
    db_connect_timeout_seconds: int = 5

    #: Rate limits (the `limits` library's syntax, `;` between several): per user, per tenant, and
    #: the stricter one of reports. Off with RATELIMIT_ENABLED=false.
    ratelimit_enabled: bool = True
    ratelimit_per_user: str = "200/minute"
    ratelimit_per_tenant: str = "2000/minute"
    ratelimit_reports: str = "20/minute"
    #: Where counters live: in memory per process by default; `redis://host:6379/0` to share.
    ratelimit_storage_uri: str = "memory://"

    #: gunicorn (gunicorn.conf.py reads these): bind address, worker processes (default: the
    #: CPUs the container may use), connections per worker, trusted proxies.
    gunicorn_bind: str = "0.0.0.0:5000"
    web_concurrency: int | None = None
    worker_connections: int = 1000
    forwarded_allow_ips: str = "127.0.0.1"
    gunicorn_access_log: str | None = "-"

    #: TT-15 Idempotency-Key: a key's first response is replayed this long; a request that
    #: meets its key in flight waits this long for it (then 409); an in-flight claim whose
    #: request has not finished by then is presumed dead and taken over.
    idempotency_ttl_seconds: int = 86_400
    idempotency_wait_seconds: float = 10.0
    idempotency_lock_seconds: int = 60
    #: TT-15 sync lists (`updated_since`): changes are listed once older than this, so that a
    #: write still committing (its change instant taken before its commit) is never passed by
    #: a cursor; longer than any unit of work and the clock skew between API hosts.
    sync_settle_seconds: float = 15.0

    cors_origins: tuple[str, ...] = ("*",)
    debug: bool = False
    max_body_bytes: int = 1_000_000

    #: Webhooks (TT-15): waits in seconds between delivery attempts (the first try is at once;
    #: the default adds up to more than 24 h), how long an endpoint may keep failing before it
    #: is disabled, the timeout of one attempt, whether private/loopback/link-local targets are
    #: allowed (tests, on-premises), a CA bundle to trust besides the system's.
    webhook_retry_schedule: tuple[float, ...] = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 43200)
    webhook_disable_after_seconds: float = 86_400.0
    webhook_timeout_seconds: float = 5.0
    webhook_allow_private_targets: bool = False
    webhook_ca_bundle: str | None = None

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
            jwks_refresh_seconds=_float(env, "JWKS_REFRESH_SECONDS", 300.0),
            jwks_timeout_seconds=_float(env, "JWKS_TIMEOUT_SECONDS", 3.0),
            db_statement_timeout_seconds=_float(env, "DB_STATEMENT_TIMEOUT_SECONDS", 10.0),
            db_connect_timeout_seconds=_int(env, "DB_CONNECT_TIMEOUT_SECONDS", 5),
            ratelimit_enabled=_flag(env, "RATELIMIT_ENABLED", True),
            ratelimit_per_user=_str(env, "RATELIMIT_PER_USER") or cls.ratelimit_per_user,
            ratelimit_per_tenant=_str(env, "RATELIMIT_PER_TENANT") or cls.ratelimit_per_tenant,
            ratelimit_reports=_str(env, "RATELIMIT_REPORTS") or cls.ratelimit_reports,
            ratelimit_storage_uri=_str(env, "RATELIMIT_STORAGE_URI") or cls.ratelimit_storage_uri,
            gunicorn_bind=_str(env, "GUNICORN_BIND") or cls.gunicorn_bind,
            web_concurrency=_int(env, "WEB_CONCURRENCY", 0) or None,
            worker_connections=_int(env, "GUNICORN_WORKER_CONNECTIONS", 1000),
            forwarded_allow_ips=_str(env, "FORWARDED_ALLOW_IPS") or cls.forwarded_allow_ips,
            gunicorn_access_log=env.get("GUNICORN_ACCESS_LOG", "-").strip() or None,
            idempotency_ttl_seconds=_int(env, "IDEMPOTENCY_TTL_SECONDS", 86_400),
            idempotency_wait_seconds=_float(env, "IDEMPOTENCY_WAIT_SECONDS", 10.0),
            idempotency_lock_seconds=_int(env, "IDEMPOTENCY_LOCK_SECONDS", 60),
            sync_settle_seconds=_float(env, "SYNC_SETTLE_SECONDS", 15.0),
            cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
            debug=_flag(env, "FLASK_DEBUG"),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 1_000_000),
            webhook_retry_schedule=_seconds_list(env, "WEBHOOK_RETRY_SCHEDULE", cls.webhook_retry_schedule),
            webhook_disable_after_seconds=_float(env, "WEBHOOK_DISABLE_AFTER_SECONDS", 86_400.0),
            webhook_timeout_seconds=_float(env, "WEBHOOK_TIMEOUT_SECONDS", 5.0),
            webhook_allow_private_targets=_flag(env, "WEBHOOK_ALLOW_PRIVATE_TARGETS"),
            webhook_ca_bundle=_str(env, "WEBHOOK_CA_BUNDLE"),
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
        """Fail fast on values and combinations that cannot work, naming the variable."""
        if self.jwt_secret is not None and len(self.jwt_secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes long")
        for name, value, low, high in (
            ("CLOCK_SKEW_SECONDS", self.clock_skew_seconds, 0, 3600),
            ("MAX_BODY_BYTES", self.max_body_bytes, 1, 100_000_000),
            ("JWKS_REFRESH_SECONDS", self.jwks_refresh_seconds, 1, 86_400),
            ("JWKS_TIMEOUT_SECONDS", self.jwks_timeout_seconds, 0.1, 60),
            ("DB_STATEMENT_TIMEOUT_SECONDS", self.db_statement_timeout_seconds, 0.1, 3600),
            ("DB_CONNECT_TIMEOUT_SECONDS", self.db_connect_timeout_seconds, 1, 300),
            ("WEB_CONCURRENCY", self.web_concurrency or 1, 1, 1024),
            ("GUNICORN_WORKER_CONNECTIONS", self.worker_connections, 1, 100_000),
            ("IDEMPOTENCY_TTL_SECONDS", self.idempotency_ttl_seconds, 60, 30 * 86_400),
            ("IDEMPOTENCY_WAIT_SECONDS", self.idempotency_wait_seconds, 0, 120),
            ("IDEMPOTENCY_LOCK_SECONDS", self.idempotency_lock_seconds, 1, 3600),
            ("SYNC_SETTLE_SECONDS", self.sync_settle_seconds, 0, 3600),
            ("WEBHOOK_DISABLE_AFTER_SECONDS", self.webhook_disable_after_seconds, 0.1, 30 * 86_400),
            ("WEBHOOK_TIMEOUT_SECONDS", self.webhook_timeout_seconds, 0.1, 30),
        ):
            if not low <= value <= high:
                raise ConfigError(f"{name} must be between {low} and {high}, not {value}")
        for name, rates in (
            ("RATELIMIT_PER_USER", self.ratelimit_per_user),
            ("RATELIMIT_PER_TENANT", self.ratelimit_per_tenant),
            ("RATELIMIT_REPORTS", self.ratelimit_reports),
        ):
            if not all(_RATE.match(rate) for rate in rates.split(";")):
                raise ConfigError(f"{name} must look like '200/minute' or '100 per 15 seconds', not {rates!r}")
        if not self.webhook_retry_schedule or not all(0 < w <= 86_400 for w in self.webhook_retry_schedule):
            raise ConfigError("WEBHOOK_RETRY_SCHEDULE must be seconds between 0 and 86400, comma separated")
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
