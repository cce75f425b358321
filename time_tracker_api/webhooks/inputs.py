"""What a webhook endpoint's body may say, cleaned into a `WebhookChanges` before any rule
looks at it: `new_webhook(body)` for a POST, `webhook_changes(body)` for a PUT. Where a target
leads (its addresses) is the service's rule, checked when it is written and before every
attempt."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from commons.domain.cleaning import UNSET, Unset
from commons.domain.errors import Invalid
from commons.domain.webhooks import MAX_DESCRIPTION, check_url, validate_subscriptions


@dataclass(frozen=True, kw_only=True)
class WebhookChanges:
    """The fields of an endpoint a body set, cleaned (UNSET: left out)."""

    url: str | Unset = UNSET
    events: tuple[str, ...] | Unset = UNSET
    #: Kept as sent (not stripped), unlike the catalogue's texts.
    description: str | None | Unset = UNSET
    active: bool | Unset = UNSET

    def values(self) -> dict[str, Any]:
        """The fields the body set, as the store keeps them."""
        found = {f.name: getattr(self, f.name) for f in fields(self)}
        if isinstance(found["events"], tuple):
            found["events"] = list(found["events"])
        return {name: value for name, value in found.items() if value is not UNSET}


def _url(value: object) -> str:
    check_url(value)
    return str(value).strip()


def _description(value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > MAX_DESCRIPTION):
        raise Invalid(f"description must be text of at most {MAX_DESCRIPTION} characters", "description")
    return value


def _active(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid("active must be true or false", "active")
    return value


def new_webhook(body: Mapping[str, Any]) -> WebhookChanges:
    """A POST's body: url and events are required; no description, active by default."""
    return WebhookChanges(
        url=_url(body.get("url")),
        events=tuple(validate_subscriptions(body.get("events"))),
        description=_description(body["description"]) if "description" in body else None,
        active=_active(body["active"]) if "active" in body else True,
    )


def webhook_changes(body: Mapping[str, Any]) -> WebhookChanges:
    """A PUT's body: every field is optional."""
    values: dict[str, Any] = {}
    if "url" in body:
        values["url"] = _url(body["url"])
    if "events" in body:
        values["events"] = tuple(validate_subscriptions(body["events"]))
    if "description" in body:
        values["description"] = _description(body["description"])
    if "active" in body:
        values["active"] = _active(body["active"])
    return WebhookChanges(**values)
