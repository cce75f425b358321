"""Time Tracker API: `create_app(settings=None)` builds the Flask app (no module-level app)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import orjson
from flask import Flask, Response, jsonify, request
from flask.sessions import NullSession, SessionInterface
from flask_cors import CORS
from flask_restx import Api
from flask_restx.swagger import Swagger
from werkzeug.middleware.proxy_fix import ProxyFix

from commons.config import Settings
from commons.data_access_layer.repository import Store
from commons.directory import Directory
from commons.domain.clock import now_ms
from commons.wiring import build_directory, build_store
from time_tracker_api import headers, idempotency, inputs, rate_limits, spec
from time_tracker_api.errors import register_error_handlers
from time_tracker_api.security import TokenVerifier
from time_tracker_api.version import __version__

CORS_HEADERS = ["authorization", "content-type", "token", "if-match", "x-fields", "idempotency-key"]


@dataclass
class Services:
    """What the resources need at request time, built once per app."""

    settings: Settings
    store: Store
    verifier: TokenVerifier
    directory: Directory
    #: Epoch milliseconds now; replaceable in tests.
    clock: Callable[[], int] = now_ms


class NoSessions(SessionInterface):
    """The API is stateless (bearer tokens): one shared null session, never a cookie. Flask
    otherwise builds a session object for every request (TT-17: 2 % of `running`'s CPU)."""

    null = NullSession()  # it refuses every write, so sharing it shares nothing

    def open_session(self, app: Flask, request: Any) -> NullSession:
        return self.null

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        return None


def install_cors(app: Flask, settings: Settings) -> None:
    """Flask-CORS, consulted only for requests with an `Origin` header: browsers send one on
    every cross-origin request (Fetch standard), and CORS headers mean nothing to any other
    caller. Working them out for every request was a tenth of `GET /time-entries/running`'s CPU
    in process (TT-17); `always_send=False` is the library's own rule for such requests, kept for
    the error answers it also sees through the exception handlers it wraps."""
    CORS(
        app,
        origins=list(settings.cors_origins),
        allow_headers=CORS_HEADERS,
        expose_headers=["ETag", "Location", "Idempotent-Replayed", "Sync-Cursor"],
        methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        always_send=False,
    )
    hooks = app.after_request_funcs[None]
    cors = cast(Callable[[Response], Response], hooks.pop())  # the hook Flask-CORS just registered
    if cors.__name__ != "cors_after_request":
        raise RuntimeError(f"Flask-CORS registered {cors.__name__!r}, not its after-request hook")

    def cross_origin_only(response: Response) -> Response:
        return cors(response) if "HTTP_ORIGIN" in request.environ else response

    hooks.append(cross_origin_only)


def _output_json(data: Any, code: int, headers: dict[str, str] | None = None) -> Response:
    # NON_STR_KEYS: SQLAlchemy row keys are str subclasses.
    body = b"" if code == 204 else orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
    response = Response(body, status=code, mimetype="application/json")
    response.headers.extend(headers or {})
    return response


class PublishedApi(Api):
    """The Api whose `/swagger.json` is the polished, valid Swagger 2.0 (see `spec`)."""

    @property
    def __schema__(self) -> dict[str, Any]:
        cached = self.__dict__.get("_polished")
        if cached is None:
            cached = self.__dict__["_polished"] = idempotency.document(spec.polish(Swagger(self).as_dict()))
        return cached


def build_api(app: Flask) -> Api:
    from time_tracker_api import (
        activities,
        customers,
        events,
        health,
        project_types,
        projects,
        technologies,
        tokens,
        users,
    )
    from time_tracker_api.money import resources as money
    from time_tracker_api.time_entries import resources as time_entries
    from time_tracker_api.webhooks import resources as webhooks

    api = PublishedApi(
        app,
        version=__version__,
        title="TimeTracker API",
        description="API for the TimeTracker project: catalogue, time entries, reports.",
        doc="/",
        authorizations={
            "TimeTracker JWT": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "Type in the *'Value'* input box below: **'Bearer &lt;JWT&gt;'**, "
                "where JWT is the token (`python cli.py create-token --admin` in development)",
            }
        },
        security="TimeTracker JWT",
        validate=True,
        catch_all_404s=True,
    )
    api.representations["application/json"] = _output_json
    for module in (
        projects,
        activities,
        time_entries,
        project_types,
        customers,
        technologies,
        users,
        events,
        health,
        money,
        webhooks,
    ):
        api.add_namespace(module.ns)
    api.add_namespace(tokens.ns)  # TT-15: personal access tokens (under /users)
    register_error_handlers(api)

    def openapi3() -> Response:
        """The same contract as OpenAPI 3.1, for client generators and gateways that want 3.x."""
        return jsonify(spec.to_openapi3(api.__schema__))

    app.add_url_rule("/openapi.json", "openapi3", openapi3)
    return api


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    """The app factory: settings from the environment unless given."""
    settings = settings or Settings.from_env()
    settings.validate()
    verifier = TokenVerifier(settings)
    app = Flask(__name__)
    app.session_interface = NoSessions()
    inputs.install(app)
    app.config.update(
        ERROR_404_HELP=False,
        RESTX_MASK_SWAGGER=False,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        JSON_SORT_KEYS=False,
    )
    logging.basicConfig(level=logging.DEBUG if settings.debug else logging.INFO)
    logging.getLogger("azure").setLevel(logging.WARNING)
    store = store or build_store(settings)
    app.extensions["time_tracker"] = Services(settings, store, verifier, build_directory(settings, store))
    install_cors(app, settings)
    app.extensions["time_tracker_api"] = build_api(app)
    rate_limits.install(app, settings)
    app.wsgi_app = headers.AnswerHeaders(ProxyFix(app.wsgi_app, x_proto=1, x_host=1))  # type: ignore[method-assign]
    return app
