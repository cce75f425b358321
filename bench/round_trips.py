"""Round trips to Cosmos DB per API request, counted at the SDK's transport (retries included).

Each request is made once, warm (names cache and remembered users in place, as in a running
worker), through the app in this process against the given store.
"""

from __future__ import annotations

import uuid
from typing import Any

from commons.data_access_layer.cosmos_db import CosmosStore, counting_round_trips
from time_tracker_api import create_app
from time_tracker_api.security import mint_token


def count_round_trips(store: CosmosStore, secret: str) -> dict[str, int]:
    """`{endpoint: round trips}` for the requests of a clock-in day, in a tenant of its own."""
    from commons.config import Settings

    app = create_app(Settings(jwt_secret=secret, sql_database_uri="sqlite://"), store=store)
    tenant, user = str(uuid.uuid4()), str(uuid.uuid4())
    admin = {
        "Authorization": "Bearer "
        + mint_token(secret, user_id=str(uuid.uuid4()), tenant_id=tenant, email="admin@example.com", admin=True)
    }
    me = {"Authorization": "Bearer " + mint_token(secret, user_id=user, tenant_id=tenant, email="me@example.com")}
    http = app.test_client()

    def call(method: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
        response = http.open(path, method=method, headers=headers, json=body)
        assert response.status_code < 300, (method, path, response.status_code, response.get_data(as_text=True))
        return response.get_json(silent=True)

    customer = call("POST", "/customers", admin, {"name": "Round trips"})
    project = call("POST", "/projects", admin, {"name": "P", "customer_id": customer["id"]})
    activity = call("POST", "/activities", admin, {"name": "A"})
    refs = {"project_id": project["id"], "activity_id": activity["id"]}
    past = call(
        "POST", "/time-entries", me, {**refs, "start_date": "2024-05-01T08:00:00Z", "end_date": "2024-05-01T09:00:00Z"}
    )
    steps: list[tuple[str, str, str, dict[str, str], Any]] = [
        ("POST /customers", "POST", "/customers", admin, {"name": "Another"}),
        ("POST /time-entries (clock in)", "POST", "/time-entries", me, refs),
        ("GET /time-entries/running", "GET", "/time-entries/running", me, None),
        ("PUT /time-entries/{id}", "PUT", f"/time-entries/{past['id']}", me, {"description": "counted"}),
        ("GET /time-entries (month)", "GET", "/time-entries?month=5&year=2024", me, None),
        ("GET /time-entries/summary", "GET", "/time-entries/summary", me, None),
        ("PUT /time-entries/stop", "PUT", "/time-entries/stop", me, None),
        ("DELETE /time-entries/{id}", "DELETE", f"/time-entries/{past['id']}", me, None),
    ]
    counts: dict[str, int] = {}
    for name, method, path, headers, body in steps:
        if name == "PUT /time-entries/{id}":
            call(method, path, headers, body)  # as a worker that served this user a moment ago
        with counting_round_trips() as counter:
            call(method, path, headers, body)
        counts[name] = counter[0]
    return counts
