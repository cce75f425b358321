"""A Postman v2.1 collection that runs (`python cli.py gen_postman_collection`).

Every operation of the spec is one request, in an order where each create comes before the
requests that need its id: a request's test stores the ids it creates in collection
variables (`customer_id`, `time_entry_id`...) that later URLs and bodies use. Each request has
an example body (the model's examples, ids and unique names filled in) and a test of its status
and of its JSON shape (every property the spec declares for the answer). Variables:
`baseUrl` (the API) and `token` (a development admin token: `python cli.py create-token
--admin`). Run it with `newman run collection.json --env-var baseUrl=... --env-var token=...`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
#: A body key set to this is left out of the example body.
OMIT = object()
#: Names are unique per tenant: each run suffixes them with the run's start time.
RUN = "{{run}}"


@dataclass(frozen=True)
class Step:
    operation_id: str
    status: int = 200
    #: path parameter -> the collection variable it takes
    path: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    #: collection variable -> the key of the JSON answer it is taken from
    saves: dict[str, str] = field(default_factory=dict)


def _catalogue(singular: str, plural: str, variable: str, body: dict[str, Any]) -> list[Step]:
    return [
        Step(f"create_{singular}", 201, body=body, saves={variable: "id"}),
        Step(f"list_{plural}"),
        Step(f"get_{singular}", path={"id": variable}),
        Step(f"update_{singular}", path={"id": variable}, body={"description": f"Updated by Postman {RUN}"}),
    ]


ENTRY = {"id": "time_entry_id"}
#: The order of the run: creates first, then what needs them, deletes last.
STEPS: list[Step] = [
    Step("get_health"),
    Step("get_liveness"),
    *_catalogue("customer", "customers", "customer_id", {"name": f"Acme {RUN}"}),
    *_catalogue("project_type", "project_types", "project_type_id", {"name": f"Fixed price {RUN}"}),
    *_catalogue(
        "project",
        "projects",
        "project_id",
        {"name": f"Website {RUN}", "customer_id": "{{customer_id}}", "project_type_id": "{{project_type_id}}"},
    ),
    *_catalogue("activity", "activities", "activity_id", {"name": f"Development {RUN}"}),
    *_catalogue("technology", "technologies", "technology_id", {"name": f"python-{RUN}", "description": OMIT}),
    Step("get_money_settings"),
    Step("update_money_settings", body={"rounding": {"mode": "up", "minutes": 15}}),
    Step("add_rate", 201, body={"project_id": "{{project_id}}"}, saves={"rate_id": "id"}),
    Step("list_rates"),
    # A lock of a long-gone day: the entries below stay writable.
    Step("lock_periods", body={"locked_until": "2000-01-31", "older_than_days": None}),
    Step(
        "clock_in",
        201,
        body={
            "project_id": "{{project_id}}",
            "activity_id": "{{activity_id}}",
            "start_date": OMIT,
            "end_date": OMIT,
        },
        saves={"time_entry_id": "id"},
    ),
    Step("get_running_time_entry"),
    Step("list_time_entries"),
    Step("list_latest_time_entries"),
    Step("list_time_entries_page", query={"start": "0", "length": "10"}),
    Step("get_worked_time_summary"),
    Step("get_time_entries_report", query={"group_by": "project"}),
    Step("get_time_entry", path=ENTRY),
    Step("update_time_entry", path=ENTRY, body={"description": "Edited by Postman"}),
    Step("clock_out", path=ENTRY),
    Step("restart_time_entry", path=ENTRY),
    Step("stop_running_time_entry"),
    Step("list_recent_projects"),
    Step("list_users", saves={"user_id": "0.id"}),
    Step("get_user", path={"id": "user_id"}),
    Step("is_user_member_of_group", path={"id": "user_id"}, body={"group_name": "time-tracker-admin"}),
    Step("add_user_to_group", path={"id": "user_id"}, body={"group_name": f"reviewers-{RUN}"}),
    Step("remove_user_from_group", path={"id": "user_id"}, body={"group_name": f"reviewers-{RUN}"}),
    Step("grant_role", path={"id": "user_id", "role_id": "role_id"}),
    Step("revoke_role", path={"id": "user_id", "role_id": "role_id"}),
    Step("list_events", query={"limit": "10"}),
    # TT-15 personal access tokens (the caller's own: `me`).
    Step(
        "create_access_token",
        201,
        path={"user_id": "me"},
        body={"name": f"Postman {RUN}", "expires_at": OMIT},
        saves={"access_token_id": "id"},
    ),
    Step("list_access_tokens", path={"user_id": "me"}),
    Step("list_tenant_access_tokens"),
    Step("revoke_access_token", 204, path={"user_id": "me", "token_id": "access_token_id"}),
    *[
        Step("list_webhook_event_types"),
        Step(
            "create_webhook",
            201,
            body={"url": "{{webhookUrl}}", "events": ["*"], "description": f"Postman {RUN}"},
            saves={"webhook_id": "id"},
        ),
        Step("list_webhooks"),
        Step("get_webhook", path={"id": "webhook_id"}),
        Step("update_webhook", path={"id": "webhook_id"}, body={"description": f"Updated by Postman {RUN}"}),
        Step("ping_webhook", path={"id": "webhook_id"}, saves={"delivery_id": "id"}),
        Step("list_webhook_deliveries", path={"id": "webhook_id"}),
        Step("get_webhook_delivery", path={"id": "webhook_id", "delivery_id": "delivery_id"}),
        Step("redeliver_webhook_delivery", 202, path={"id": "webhook_id", "delivery_id": "delivery_id"}),
        Step("delete_webhook", 204, path={"id": "webhook_id"}),
    ],
    Step("delete_time_entry", 204, path=ENTRY),
    Step("delete_rate", 204, path={"id": "rate_id"}),
    Step("delete_technology", 204, path={"id": "technology_id"}),
    Step("deactivate_activity", 204, path={"id": "activity_id"}),
    Step("deactivate_project", 204, path={"id": "project_id"}),
    Step("delete_project_type", 204, path={"id": "project_type_id"}),
    Step("deactivate_customer", 204, path={"id": "customer_id"}),
]


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return _resolve(spec, spec["definitions"][schema["$ref"].rsplit("/", 1)[-1]])
    return schema


def declared_keys(spec: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """The properties an object of `schema` declares (through `$ref` and `allOf`)."""
    schema = _resolve(spec, schema)
    keys = list(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        keys += [k for k in declared_keys(spec, part) if k not in keys]
    return keys


def _example(
    spec: dict[str, Any], method: str, operation: dict[str, Any], overrides: dict[str, Any]
) -> dict[str, Any] | None:
    """The model's examples with the step's values; a PUT sends only the step's (a partial update)."""
    parameter = next((p for p in operation.get("parameters", []) if p.get("in") == "body"), None)
    if parameter is None:
        return None
    model = _resolve(spec, parameter["schema"])
    body = (
        {} if method == "put" else {k: v["example"] for k, v in model.get("properties", {}).items() if "example" in v}
    )
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not OMIT}


def _tests(spec: dict[str, Any], method: str, path: str, operation: dict[str, Any], step: Step) -> list[str]:
    lines = [f'pm.test("{method.upper()} {path} answers {step.status}", function () {{']
    lines.append(f"    pm.response.to.have.status({step.status});")
    lines.append("});")
    schema = operation["responses"].get(str(step.status), {}).get("schema")
    if step.status == 204 or schema is None:
        lines += [
            'pm.test("the body is empty", function () {',
            '    pm.expect(pm.response.text()).to.equal("");',
            "});",
        ]
        return lines
    many = schema.get("type") == "array"
    keys = declared_keys(spec, schema["items"] if many else schema)
    lines.append('pm.test("the body has every declared field", function () {')
    lines.append("    const body = pm.response.json();")
    if many:
        lines.append('    pm.expect(body).to.be.an("array");')
        lines.append("    body.forEach(function (item) {")
        lines.append(f"        pm.expect(item).to.include.all.keys({json.dumps(keys)});")
        lines.append("    });")
    else:
        lines.append('    pm.expect(body).to.be.an("object");')
        if keys:
            lines.append(f"    pm.expect(body).to.include.all.keys({json.dumps(keys)});")
    lines.append("});")
    for variable, key in step.saves.items():
        accessor = "".join(f"[{int(p)}]" if p.isdigit() else f"[{json.dumps(p)}]" for p in key.split("."))
        lines.append(f'pm.collectionVariables.set("{variable}", pm.response.json(){accessor});')
    return lines


def _url(path: str, step: Step, query: dict[str, str]) -> dict[str, Any]:
    segments = [f":{p[1:-1]}" if p.startswith("{") else p for p in path.strip("/").split("/") if p]
    raw = "{{baseUrl}}/" + "/".join(segments)
    url: dict[str, Any] = {"raw": raw, "host": ["{{baseUrl}}"], "path": segments}
    if query:
        url["raw"] += "?" + "&".join(f"{k}={v}" for k, v in query.items())
        url["query"] = [{"key": k, "value": v} for k, v in query.items()]
    if step.path:
        url["variable"] = [{"key": name, "value": "{{" + variable + "}}"} for name, variable in step.path.items()]
    return url


def collection(spec: dict[str, Any], base_url: str = "http://127.0.0.1:5000", token: str = "") -> dict[str, Any]:
    """The collection of every operation of `spec`, in the order of `STEPS`."""
    operations = {
        operation["operationId"]: (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }
    missing = set(operations) - {s.operation_id for s in STEPS}
    if missing:
        raise ValueError(f"No Postman step for the operations {sorted(missing)}: add them to STEPS")
    items = []
    for step in STEPS:
        method, path, operation = operations[step.operation_id]
        request: dict[str, Any] = {
            "method": method.upper(),
            "header": [{"key": "Accept", "value": "application/json"}],
            "url": _url(path, step, step.query),
            "description": operation.get("description") or operation.get("summary", ""),
        }
        if operation.get("security") == []:
            request["auth"] = {"type": "noauth"}
        body = _example(spec, method, operation, step.body)
        if body is not None:
            request["header"].append({"key": "Content-Type", "value": "application/json"})
            request["body"] = {
                "mode": "raw",
                "raw": json.dumps(body, indent=2),
                "options": {"raw": {"language": "json"}},
            }
        items.append(
            {
                "name": operation.get("summary") or step.operation_id,
                "request": request,
                "event": [
                    {
                        "listen": "test",
                        "script": {"type": "text/javascript", "exec": _tests(spec, method, path, operation, step)},
                    }
                ],
            }
        )
    return {
        "info": {"name": spec["info"]["title"], "description": __doc__, "schema": SCHEMA},
        "auth": {"type": "bearer", "bearer": [{"key": "token", "value": "{{token}}", "type": "string"}]},
        "event": [
            {
                "listen": "prerequest",
                "script": {
                    "type": "text/javascript",
                    "exec": [
                        'if (!pm.collectionVariables.get("run")) {',
                        '    pm.collectionVariables.set("run", Date.now());',
                        "}",
                    ],
                },
            }
        ],
        "item": items,
        "variable": [
            {"key": "baseUrl", "value": base_url},
            {"key": "token", "value": token},
            {"key": "run", "value": ""},
            {"key": "role_id", "value": "admin"},
            {"key": "me", "value": "me"},
            # Webhooks: a target the server accepts (https, public unless WEBHOOK_ALLOW_PRIVATE_TARGETS).
            {"key": "webhookUrl", "value": "https://example.com/hooks/tt"},
        ],
    }
