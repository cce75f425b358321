"""Developer commands: `python cli.py --help`."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from commons.config import ConfigError, Settings
from commons.domain.errors import DomainError

DEV_TENANT = "00000000-0000-4000-8000-000000000001"
DEV_USER = "00000000-0000-4000-8000-0000000000aa"


def _settings() -> Settings:
    return Settings.from_env()


def cmd_migrate(_args: argparse.Namespace) -> int:
    """Apply every migration not applied yet to the configured store (safe to repeat)."""
    import migrations
    from commons.wiring import build_store

    target = build_store(_settings())
    migrations.migrate(target)
    print(f"migrations applied ({target.engine_name})")
    return 0


def cmd_create_token(args: argparse.Namespace) -> int:
    """Print a development token signed with JWT_SECRET."""
    from time_tracker_api.security import mint_token

    settings = _settings()
    if not settings.jwt_secret:
        raise ConfigError("JWT_SECRET is not set: run `make run` once, or put JWT_SECRET in .env")
    if args.hours < 1:
        raise ConfigError(f"--hours must be at least 1 (got {args.hours}): a token must not be born expired")
    print(
        mint_token(
            settings.jwt_secret,
            user_id=args.user,
            tenant_id=args.tenant,
            email=args.email,
            admin=args.admin,
            name=args.name,
            ttl_seconds=args.hours * 3600,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
        )
    )
    return 0


def _swagger_spec() -> dict[str, Any]:
    from time_tracker_api import create_app

    settings = _settings().with_overrides(
        sql_database_uri="sqlite://", cosmos_connection_string=None, cosmos_account_uri=None
    )
    if settings.verification_mode is None:
        settings = settings.with_overrides(jwt_secret=uuid.uuid4().hex)
    app = create_app(settings)
    with app.test_request_context():
        return dict(app.extensions["time_tracker_api"].__schema__)


def _write(text: str, filename: str | None) -> None:
    if filename:
        Path(filename).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {filename}")
    else:
        print(text)


def cmd_gen_swagger_json(args: argparse.Namespace) -> int:
    """Write the Swagger 2.0 spec (stdout when no file is given)."""
    _write(json.dumps(_swagger_spec(), indent=2, sort_keys=True), args.filename)
    return 0


def cmd_gen_postman_collection(args: argparse.Namespace) -> int:
    """Write a Postman v2.1 collection that runs: every operation in order, with example bodies
    and a test per request (stdout when no file is given)."""
    from time_tracker_api.postman import collection

    _write(json.dumps(collection(_swagger_spec(), args.base_url, args.token), indent=2), args.filename)
    return 0


def _progress(done: int, total: int) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} entries")
    sys.stderr.flush()


def cmd_seed(args: argparse.Namespace) -> int:
    """Fill the store with realistic fake tenants, users, catalogue and months of entries."""
    from commons.data_access_layer.events import Actor
    from commons.wiring import build_store
    from time_tracker_api.security import mint_token
    from time_tracker_api.seeding import seed

    settings = _settings()
    store = build_store(settings)

    def token(admin: Actor) -> str | None:
        if not settings.jwt_secret:
            return None
        return mint_token(
            settings.jwt_secret,
            user_id=admin.user_id,
            tenant_id=admin.tenant_id,
            email=admin.email or "admin@example.com",
            admin=True,
            name=admin.name,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
        )

    report = seed(
        store,
        tenants=args.tenants,
        users=args.users,
        entries=args.entries,
        seed_value=args.seed,
        progress=_progress,
        tenant_ids=[args.tenant],
        token=token,
    )
    sys.stderr.write("\n")
    print(json.dumps(report, indent=2))
    if settings.jwt_secret:
        print(
            f"\nThe first tenant is {args.tenant}: `python cli.py create-token --admin` tokens see it too;"
            " each tenant's admin token is above (valid 8 hours).",
            file=sys.stderr,
        )
    return 0


def cmd_grant_admin(args: argparse.Namespace) -> int:
    """Give a user the admin role (the first admin of a tenant, typically)."""
    from commons.data_access_layer.events import Actor
    from commons.directory.local import LocalDirectory
    from commons.wiring import build_directory, build_store

    settings = _settings()
    store = build_store(settings)
    directory = build_directory(settings, store)
    actor = Actor(user_id="cli", tenant_id=args.tenant, is_admin=True)
    if isinstance(directory, LocalDirectory):
        user = directory.set_role(actor, args.user, "admin", not args.revoke, create=True)
    else:
        user = directory.set_role(actor, args.user, "admin", not args.revoke)
    print(json.dumps(user, indent=2))
    return 0


def cmd_events_run(args: argparse.Namespace) -> int:
    """Feed the store's changes (SQL outbox or Cosmos change feed) to the event handler."""
    import logging

    from commons.wiring import build_store
    from time_tracker_events.runner import run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = _settings()
    store = build_store(settings)
    stopping = threading.Event()
    dispatcher = None
    if not args.no_webhooks and not args.once:
        dispatcher = _start_dispatcher(store, settings, stopping)
    try:
        stored = run(store, args.name, once=args.once, batch_size=args.batch, poll_seconds=args.poll)
    finally:
        stopping.set()
        if dispatcher is not None:
            dispatcher.join(timeout=10)
    if args.once and not args.no_webhooks:
        from commons.webhooks import dispatch

        while dispatch(store, settings):  # what is due now; retries wait for the next run
            pass
    print(f"{stored} new events")
    return 0


def _start_dispatcher(store: Any, settings: Settings, stopping: threading.Event) -> threading.Thread:
    """The webhook dispatcher (TT-15) beside the events runner, in a thread of its own so that a
    slow target never holds up the audit log."""
    from commons.webhooks import run_dispatcher

    thread = threading.Thread(
        target=run_dispatcher,
        args=(store, settings),
        kwargs={"stop": stopping.is_set},
        name="webhook-dispatcher",
        daemon=True,
    )
    thread.start()
    return thread


def _development_token(settings: Settings) -> str | None:
    """An admin token of the development tenant, when tokens are signed with JWT_SECRET."""
    from time_tracker_api.security import mint_token

    if not settings.jwt_secret:
        return None
    return mint_token(
        settings.jwt_secret,
        user_id=DEV_USER,
        tenant_id=DEV_TENANT,
        email="dev@example.com",
        admin=True,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )


def _demo_examples(store: Any) -> None:
    """A Demo customer, project and activity in the development tenant (made once), whose ids
    become the examples of the time entry bodies: "Try it out" on POST /time-entries in the
    Swagger UI then records an entry as it stands."""
    from commons.data_access_layer.events import Actor
    from time_tracker_api.time_entries import models

    actor = Actor(DEV_USER, DEV_TENANT, "dev@example.com", is_admin=True)

    def demo(catalogue: Any, **values: Any) -> dict[str, Any]:
        live = [r for r in catalogue.list({"status": "active"}) if r["name"] == "Demo"]
        return live[0] if live else catalogue.add({"name": "Demo", **values})  # type: ignore[no-any-return]

    with store.unit_of_work(actor, write=True) as uow:
        customer = demo(uow.customers)
        project = demo(uow.projects, customer_id=customer["id"])
        activity = demo(uow.activities)
    for model in (models.time_entry_input, models.time_entry_update):
        model["project_id"].example = project["id"]
        model["activity_id"].example = activity["id"]


def cmd_run(args: argparse.Namespace) -> int:
    """Serve the API for development and feed the audit log beside it: one command, one Ctrl-C."""
    import logging
    import signal

    from werkzeug.serving import make_server

    import migrations
    from commons.wiring import build_store
    from time_tracker_api import create_app
    from time_tracker_events.runner import run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = _settings()
    store = build_store(settings)
    migrations.migrate(store)
    token = _development_token(settings)
    if token and not args.no_demo:
        _demo_examples(store)
    stopping = threading.Event()
    events = threading.Thread(
        target=run,
        args=(store, "default"),
        kwargs={"poll_seconds": args.poll, "stop": stopping.is_set},
        name="events-runner",
        daemon=True,
    )
    events.start()
    dispatcher = _start_dispatcher(store, settings, stopping)
    app = create_app(settings, store=store)
    print(
        f"Running: the API on http://{args.host}:{args.port}/ (Swagger UI) and the events runner "
        f"({store.engine_name}: GET /events fills within {args.poll:g} s; webhooks are sent beside it). "
        "Ctrl-C stops both.",
        flush=True,
    )
    if token:
        print(f"A development admin token (8 hours; Authorize with 'Bearer <token>'):\n{token}", flush=True)
    server = make_server(args.host, args.port, app, threaded=True)

    def stop(_signum: int, _frame: Any) -> None:
        # A clean stop, not a KeyboardInterrupt raised wherever the main thread happens to be
        # (inside a logging handler's lock, say, which then stays held). shutdown() waits for
        # serve_forever to return, so it runs in a thread of its own.
        stopping.set()
        threading.Thread(target=server.shutdown, name="shutdown", daemon=True).start()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    try:
        server.serve_forever()
    finally:
        stopping.set()
        server.server_close()
        events.join(timeout=5)
        dispatcher.join(timeout=5)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cli.py", description="Time Tracker developer commands")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("run", help=cmd_run.__doc__, description=cmd_run.__doc__)
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    serve.add_argument("--poll", type=float, default=1.0, help="seconds between event polls when idle")
    serve.add_argument(
        "--no-demo",
        action="store_true",
        help="do not make the Demo customer, project and activity whose ids are the Swagger examples",
    )
    serve.set_defaults(func=cmd_run)
    migrate = sub.add_parser("migrate", help=cmd_migrate.__doc__, description=cmd_migrate.__doc__)
    migrate.set_defaults(func=cmd_migrate)

    token = sub.add_parser("create-token", help=cmd_create_token.__doc__, description=cmd_create_token.__doc__)
    token.add_argument("--admin", action="store_true", help="carry the time-tracker-admin role")
    token.add_argument("--tenant", default=DEV_TENANT, help="tenant id (tid)")
    token.add_argument("--user", default=DEV_USER, help="user id (oid)")
    token.add_argument("--email", default="dev@example.com", help="e-mail (emails[0])")
    token.add_argument("--name", default=None, help="display name")
    token.add_argument("--hours", type=int, default=8, help="validity in hours (default 8)")
    token.set_defaults(func=cmd_create_token)

    swagger = sub.add_parser(
        "gen_swagger_json", help=cmd_gen_swagger_json.__doc__, description=cmd_gen_swagger_json.__doc__
    )
    swagger.add_argument("-f", "--filename", default=None, help="output file (default: stdout)")
    swagger.set_defaults(func=cmd_gen_swagger_json)

    grant = sub.add_parser("grant-admin", help=cmd_grant_admin.__doc__, description=cmd_grant_admin.__doc__)
    grant.add_argument("user", help="the user's id (oid)")
    grant.add_argument("--tenant", default=DEV_TENANT, help="the tenant id (tid)")
    grant.add_argument("--revoke", action="store_true", help="take the role away instead")
    grant.set_defaults(func=cmd_grant_admin)

    postman = sub.add_parser(
        "gen_postman_collection",
        help=cmd_gen_postman_collection.__doc__,
        description=cmd_gen_postman_collection.__doc__,
    )
    postman.add_argument("-f", "--filename", default=None, help="output file (default: stdout)")
    postman.add_argument(
        "-b",
        "--base-url",
        dest="base_url",
        default="http://127.0.0.1:5000",
        help="the value of the collection's baseUrl variable (default http://127.0.0.1:5000)",
    )
    postman.add_argument(
        "--token", default="", help="the value of its token variable (default empty: set it in Postman or newman)"
    )
    postman.set_defaults(func=cmd_gen_postman_collection)

    seeder = sub.add_parser("seed", help=cmd_seed.__doc__, description=cmd_seed.__doc__)
    seeder.add_argument("--entries", type=int, default=2000, help="time entries in all (default 2000)")
    seeder.add_argument("--tenants", type=int, default=1, help="tenants (default 1)")
    seeder.add_argument("--users", type=int, default=8, help="users per tenant (default 8)")
    seeder.add_argument("--seed", type=int, default=42, help="random seed, for repeatable data")
    seeder.add_argument(
        "--tenant", default=DEV_TENANT, help="the first tenant's id (default: the one create-token uses)"
    )
    seeder.set_defaults(func=cmd_seed)

    events = sub.add_parser("events", help="the audit events runner", description="The audit events runner")
    events_sub = events.add_subparsers(dest="events_command", required=True)
    runner = events_sub.add_parser("run", help=cmd_events_run.__doc__, description=cmd_events_run.__doc__)
    runner.add_argument("--once", action="store_true", help="handle what is there, then exit")
    runner.add_argument("--name", default="default", help="checkpoint name (one per runner)")
    runner.add_argument("--batch", type=int, default=500, help="changes per batch")
    runner.add_argument("--poll", type=float, default=1.0, help="seconds between polls when idle")
    runner.add_argument(
        "--no-webhooks", action="store_true", help="do not send webhook deliveries here (another process does)"
    )
    runner.set_defaults(func=cmd_events_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (ConfigError, DomainError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
