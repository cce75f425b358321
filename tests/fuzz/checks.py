"""Checks of our own for the schemathesis runs (not registered: each test passes them).

- `error_is_json_message`: every 4xx/5xx answer is JSON with a string `message` (README).
- `positive_data_acceptance_but_documented_rules`: schemathesis's `positive_data_acceptance`
  (schema-valid data is accepted), except for the rejections the README documents and a
  Swagger 2.0 schema cannot express; each one is listed below with its rule. Every other
  rejection of schema-valid data still fails: a rule that the schema can say (a range, a
  pattern, required, not null) is declared in the spec instead.
- `use_after_free_but_soft_deletes`: schemathesis's `use_after_free` (a deleted item is gone),
  except for the items the README says a DELETE deactivates.
"""

from __future__ import annotations

import re
from typing import Any

from schemathesis.core.failures import Failure
from schemathesis.specs.openapi.checks import positive_data_acceptance, use_after_free

from time_tracker_api.inputs import is_clean_text


def error_is_json_message(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx answer is JSON with a string `message`."""
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"], body
    return None


#: (the API's message, the documented rule that Swagger 2.0 cannot state) for the 400/422
#: answers to schema-valid requests.
DOCUMENTED_REJECTIONS: list[tuple[str, str]] = [
    # Ids are plain strings in the schema; whether one names a live item of the tenant (and a
    # deactivated customer's projects take no entries) is known only to the store. README:
    # "No time entry is created, moved onto or restarted on them (400)".
    (r"^Related [\w ]+ does not exist|^Related customer is not active$|^The project's customer is not active$", "ids"),
    (r"^A project type can not be its own ancestor$|^The project type tree is too deep$", "project type tree"),
    # README "Time entries": no start or end in the future beyond the skew, end after start, at
    # most 999 hours, no overlaps (422), one running entry (409), stop/restart only when it makes
    # sense (422). They depend on the clock and on the other entries.
    (
        r"in the future$|^You must end the time entry after it started$|can not last more than|"
        r"can not have started more than|can not run again$|^There is another time entry|"
        r"^The specified time entry is already (stopped|running)$|has run for more than \d+ hours",
        "time rules",
    ),
    # README "Dates": ISO 8601 with `Z`, an offset or naive, or a bare date, in years 1 to 9998;
    # the schema's `string` cannot say which texts are dates (`format: date-time` would refuse
    # the naive and bare forms the API accepts). Ranges: end not before start, reports <= 366
    # days and 10,000 entries.
    (
        r"must be an ISO 8601 date|is out of range \(years 1 to 9998\)|is not a valid date in range|"
        r"^end_date must not be before start_date$|^A report covers at most 366 days$|^The report holds \d+ entries",
        "dates",
    ),
    # README "Zones": `timezone` is an IANA name; the list is the zone database of the server.
    (r"is not a known IANA time zone$", "zones"),
    # README: `continuation` is a token the API gave (opaque).
    (r"^continuation is not a token this API gave$", "continuation tokens"),
    # README "Money and periods": rates' `valid_from` is a calendar date in the years 1900-9998.
    (r"must be a date, YYYY-MM-DD|must be in the years 1900 to 9998$", "rate dates"),
    # README "Sync lists": `updated_since` lists every change, so it takes no other filter
    # (Swagger 2.0 cannot say that two parameters exclude each other).
    (r"^updated_since lists every change; it does not combine with |^include_deleted needs updated_since$", "sync"),
    # README "Money and periods": a rate is for one level (a customer, a project, a user, or a
    # project member: project and user together); the report's then_by differs from group_by.
    (r"^A rate is for a customer, a project, a user or a project member|^then_by must be one of ", "money"),
    # README "Webhooks": targets are https URLs of a public host, without credentials or fragment
    # (a `format: uri` would not say the scheme, and the address is known only once resolved).
    (r"^url must |^url is not a valid URL$|^The host .* (does not resolve|resolves to a private)", "webhook targets"),
    # README "Idempotency-Key" (IETF draft): a key already used with another body is 422; it
    # depends on the requests before.
    (r"^This Idempotency-Key was used for another request", "idempotency keys"),
]
_DOCUMENTED = re.compile("|".join(f"(?:{pattern})" for pattern, _ in DOCUMENTED_REJECTIONS))


def _hostile(value: Any) -> bool:
    """README "Hostile input is a 400": NUL characters and lone surrogates, anywhere (keys too)."""
    if isinstance(value, str):
        return not is_clean_text(value)
    if isinstance(value, dict):
        return any(_hostile(k) or _hostile(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_hostile(item) for item in value)
    return False


def _message(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("message", "")) if isinstance(body, dict) else ""


def positive_data_acceptance_but_documented_rules(ctx: Any, response: Any, case: Any) -> bool | None:
    try:
        return positive_data_acceptance(ctx, response, case)  # type: ignore[no-any-return]
    except Failure:
        sent = (case.path_parameters, case.query, case.body, case.headers)
        if _hostile(sent) or _DOCUMENTED.search(_message(response)):
            return None
        raise


#: README "Soft deletes": customers, projects and activities become `status: "inactive"` and
#: stay readable and restorable; project types, technologies and time entries disappear.
SOFT_DELETED = frozenset({"customers", "projects", "activities"})


def use_after_free_but_soft_deletes(ctx: Any, response: Any, case: Any) -> bool | None:
    try:
        return use_after_free(ctx, response, case)  # type: ignore[no-any-return]
    except Failure:
        collection = case.operation.path.strip("/").split("/")[0]
        try:
            body = response.json()
        except ValueError:
            body = None
        if collection in SOFT_DELETED and isinstance(body, dict) and body.get("status") == "inactive":
            return None
        raise
