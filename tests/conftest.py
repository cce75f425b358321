"""Fixtures: real engines started on loopback, a factory-built app per engine, token helpers.

Every test works in a tenant of its own, so engines are shared by the session and no test
sees another's data. With CI=true an engine that cannot start fails the run; locally it is
skipped with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

import migrations
from commons.config import Settings
from commons.data_access_layer.events import Actor
from commons.data_access_layer.memory import MemoryStore
from commons.data_access_layer.sql import SqlStore
from tests.tools.cosmos import COSMOS_KEY, start_cosmos_server
from tests.tools.postgres import PostgresServer, start_postgres
from time_tracker_api import create_app
from time_tracker_api.security import mint_token

#: `cosmos-adverse`: the Cosmos stand-in with short and empty pages, throttling and transient
#: errors (from a fixed seed, so a failure replays), as the real service may answer.
#: `memory`: the contract in pure Python (commons/data_access_layer/memory), the same API tests
#: passing on it as on the databases.
ENGINES = ["sqlite", "postgresql", "cosmos", "cosmos-adverse", "memory"]
#: The engines that live outside the test process (a subprocess can reach them).
DATABASES = [engine for engine in ENGINES if engine != "memory"]
ADVERSE_SEED = int(os.environ.get("COSMOS_ADVERSE_SEED", "20261202"))
ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-" + "x" * 40
_postgres_error: list[str] = []
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a backend that cannot start is a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer | None]:
    try:
        server = start_postgres()
    except (RuntimeError, OSError) as exc:
        yield None
        _postgres_error.append(str(exc))
        return
    yield server
    server.stop()
    server.remove()


@pytest.fixture(scope="session")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    path = tmp_path_factory.mktemp("sqlite") / "time_tracker.db"
    target = SqlStore(f"sqlite:///{path}")
    migrations.migrate(target)
    yield target
    target.dispose()


@pytest.fixture(scope="session")
def postgres_store(postgres: PostgresServer | None) -> Iterator[SqlStore | None]:
    if postgres is None:
        yield None
        return
    target = SqlStore(postgres.url)
    migrations.migrate(target)
    yield target
    target.dispose()


def own_sql_store(request: pytest.FixtureRequest, tmp_path: Path, prefix: str) -> SqlStore:
    """A migrated SQL store on a database of its own (a file, or a new PostgreSQL database on
    the session's server), for tests that reshape it as an older version left it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / f'{prefix}.db'}"
    else:
        server = request.getfixturevalue("postgres")
        if server is None:
            unavailable("PostgreSQL could not start")
        name = f"tt_{prefix}_{uuid.uuid4().hex[:8]}"
        admin = create_engine(server.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        url = server.url.rsplit("/", 1)[0] + f"/{name}"
    target = SqlStore(url)
    migrations.migrate(target)
    return target


def cosmos_settings(url: str, database: str, *, discovery: bool = False) -> Settings:
    return Settings(
        cosmos_account_uri=url,
        cosmos_master_key=COSMOS_KEY,
        cosmos_database_name=database,
        cosmos_endpoint_discovery=discovery,
        jwt_secret=SECRET,
    )


#: The adverse stand-in also answers 1 % of reads and queries 408/503 once: SDK 4.17 retries
#: those only with endpoint discovery on, as production runs (COSMOS_ENDPOINT_DISCOVERY).
ADVERSE_TRANSIENT_RATE = 0.01


_cosmos_error: list[str] = []


def _served(adverse: int | None) -> Iterator[str | None]:
    try:
        proc, url = (
            start_cosmos_server(adverse=adverse, transient_rate=ADVERSE_TRANSIENT_RATE)
            if adverse is not None
            else start_cosmos_server()
        )
    except (RuntimeError, OSError) as exc:
        _cosmos_error.append(str(exc))
        yield None
        return
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def _cosmos_store(url: str | None, *, discovery: bool = False, database: str = "tt-tests") -> Iterator[Any]:
    if url is None:
        yield None
        return
    from commons.data_access_layer.cosmos_db import CosmosStore

    target = CosmosStore(cosmos_settings(url, database, discovery=discovery))
    migrations.migrate(target)
    yield target
    target.dispose()


@pytest.fixture(scope="session")
def cosmos_server() -> Iterator[str | None]:
    yield from _served(None)


@pytest.fixture(scope="session")
def cosmos_adverse_server() -> Iterator[str | None]:
    yield from _served(ADVERSE_SEED)


@pytest.fixture(scope="session")
def cosmos_store(cosmos_server: str | None) -> Iterator[Any]:
    yield from _cosmos_store(cosmos_server)


@pytest.fixture(scope="session")
def cosmos_adverse_store(cosmos_adverse_server: str | None) -> Iterator[Any]:
    yield from _cosmos_store(cosmos_adverse_server, discovery=True)


def module_cosmos_database(server: str, *, discovery: bool = False) -> Any:
    """A module-scoped replacement of `cosmos_store`/`cosmos_adverse_store` on a database of the
    module's own. For tests of the change feed: a new checkpoint reads a container's feed from its
    beginning (as it must in production), so on the shared database each test would read every
    write of the session before it; on its own database, only the module's."""

    @pytest.fixture(scope="module")
    def _store(request: pytest.FixtureRequest) -> Iterator[Any]:
        database = f"tt-{request.module.__name__.rsplit('.', 1)[-1]}-{uuid.uuid4().hex[:6]}"
        yield from _cosmos_store(request.getfixturevalue(server), discovery=discovery, database=database)

    return _store


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def memory_store() -> MemoryStore:
    target = MemoryStore()
    migrations.migrate(target)  # nothing to create, but the steps are recorded as on the others
    return target


@pytest.fixture
def store(engine: str, request: pytest.FixtureRequest) -> SqlStore:
    return engine_store(engine, request)  # type: ignore[no-any-return]


def engine_store(engine: str, request: pytest.FixtureRequest) -> Any:
    """The session's store of `engine` (skipped, or failed with CI=true, when it cannot start)."""
    if engine == "memory":
        return request.getfixturevalue("memory_store")
    if engine == "sqlite":
        return request.getfixturevalue("sqlite_store")
    if engine.startswith("cosmos"):
        target = request.getfixturevalue("cosmos_store" if engine == "cosmos" else "cosmos_adverse_store")
        if target is None:
            unavailable(f"The Cosmos test server could not start: {_cosmos_error[-1] if _cosmos_error else 'unknown'}")
        return target
    target = request.getfixturevalue("postgres_store")
    if target is None:
        unavailable(f"PostgreSQL could not start: {_postgres_error[-1] if _postgres_error else 'unknown'}")
    return target


def new_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def tenant() -> str:
    return new_id()


@pytest.fixture
def actor(tenant: str) -> Actor:
    return Actor(user_id=new_id(), tenant_id=tenant, email="ana@example.com", is_admin=True)


#: Rate limits stay on in the tests, high enough never to be met (test_rate_limits sets low ones).
HIGH_LIMITS = {
    "ratelimit_per_user": "100000/minute",
    "ratelimit_per_tenant": "100000/minute",
    "ratelimit_reports": "100000/minute",
}


def settings_for_tests(**overrides: Any) -> Settings:
    base = Settings(sql_database_uri="sqlite://", jwt_secret=SECRET, clock_skew_seconds=60, **HIGH_LIMITS)
    return base.with_overrides(**overrides)


@pytest.fixture
def app(store: SqlStore) -> Any:
    return create_app(settings_for_tests(), store=store)


class Client:
    """Calls the API as one user and checks the status; returns the parsed JSON."""

    def __init__(self, flask_client: Any, token: str | None) -> None:
        self.http = flask_client
        self.token = token
        self.last: Any = None

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers.update(extra or {})
        return headers

    def call(
        self, method: str, path: str, expect: int = 200, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Any:
        response = self.http.open(path, method=method, headers=self.headers(headers), **kwargs)
        self.last = response
        assert response.status_code == expect, (
            f"{method} {path}: {response.status_code} {response.get_data(as_text=True)}"
        )
        if response.status_code == 204:
            assert response.get_data() == b""
            return None
        assert response.mimetype == "application/json", response.get_data(as_text=True)
        body = response.get_json()
        if response.status_code >= 400:
            assert isinstance(body.get("message"), str) and body["message"], body
        return body

    def get(self, path: str, expect: int = 200, **kw: Any) -> Any:
        return self.call("GET", path, expect, **kw)

    def post(self, path: str, json: Any = None, expect: int = 201, **kw: Any) -> Any:
        return self.call("POST", path, expect, json=json, **kw)

    def put(self, path: str, json: Any = None, expect: int = 200, **kw: Any) -> Any:
        return self.call("PUT", path, expect, json=json, **kw)

    def delete(self, path: str, expect: int = 204, **kw: Any) -> Any:
        return self.call("DELETE", path, expect, **kw)


def token_for(tenant: str, user: str | None = None, *, admin: bool = False, email: str | None = None, **kw: Any) -> str:
    user = user or new_id()
    return mint_token(
        SECRET, user_id=user, tenant_id=tenant, email=email or f"{user[:8]}@example.com", admin=admin, **kw
    )


@pytest.fixture
def admin(app: Any, tenant: str) -> Client:
    return Client(app.test_client(), token_for(tenant, admin=True, email="admin@example.com"))


@pytest.fixture
def user(app: Any, tenant: str) -> Client:
    return Client(app.test_client(), token_for(tenant, email="user@example.com"))


@pytest.fixture
def other_tenant_admin(app: Any) -> Client:
    return Client(app.test_client(), token_for(new_id(), admin=True))


@pytest.fixture
def anonymous(app: Any) -> Client:
    return Client(app.test_client(), None)
