"""Health: for load balancers, without a token."""

from __future__ import annotations

from typing import Any

from flask_restx import Namespace, Resource, fields

from commons.domain.errors import Unavailable
from time_tracker_api.resources import store

ns = Namespace("health", description="Liveness and store reachability (no token)")
liveness = ns.model("Liveness", {"status": fields.String(example="ok")})
health = ns.inherit(
    "Health",
    liveness,
    {"store": fields.String(description="The engine: sqlite, postgresql or cosmos", example="sqlite")},
)


@ns.route("")
class Health(Resource):
    @ns.doc(security=[])
    @ns.response(200, "The service and its store are up", health)
    @ns.response(503, "The store cannot be reached", health)
    @ns.doc(id="get_health")
    def get(self) -> Any:
        """Whether the service is up and its store reachable

        200 when the store answers a ping, 503 otherwise. No token needed.
        """
        target = store()
        try:
            target.ping()
        except Unavailable:
            return {"status": "unavailable", "store": target.engine_name, "message": "The store is unreachable"}, 503
        return {"status": "ok", "store": target.engine_name}


@ns.route("/live")
class Live(Resource):
    @ns.doc(security=[])
    @ns.response(200, "The process answers", liveness)
    @ns.doc(id="get_liveness")
    def get(self) -> Any:
        """Liveness only: answers without touching the store

        200 while the process answers. No token needed.
        """
        return {"status": "ok"}
