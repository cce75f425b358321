"""The services as a resource calls them: the body parsed into its typed value first (the
parsing's own rules are tested through it), then the service function."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from commons.data_access_layer.repository import CatalogueSpec, Record, Store
from commons.domain.identity import Identity, require_admin
from commons.domain.preconditions import IfMatch
from time_tracker_api import catalogue
from time_tracker_api.catalogue_inputs import item_changes
from time_tracker_api.money import service as money
from time_tracker_api.money.inputs import lock_input, rate_input, settings_changes
from time_tracker_api.time_entries import service as entries
from time_tracker_api.time_entries.inputs import entry_changes, new_entry


def create_entry(store: Store, who: Identity, body: Mapping[str, Any], now: int, rules: Any, **kw: Any) -> Record:
    return entries.create(store, who, new_entry(body), now, rules, **kw)


def update_entry(
    store: Store,
    who: Identity,
    entry_id: str,
    body: Mapping[str, Any],
    if_match: IfMatch | None,
    now: int,
    rules: Any,
    **kw: Any,
) -> Record:
    return entries.update(store, who, entry_id, entry_changes(body), if_match, now, rules, **kw)


def create_item(store: Store, who: Identity, spec: CatalogueSpec, body: Mapping[str, Any]) -> Record:
    require_admin(who)  # as the resource does: 403 before the body's fields are judged
    return catalogue.create_item(store, who, spec, item_changes(spec, body, partial=False))


def update_item(
    store: Store, who: Identity, spec: CatalogueSpec, item_id: str, body: Mapping[str, Any], if_match: IfMatch | None
) -> Record:
    require_admin(who)
    return catalogue.update_item(store, who, spec, item_id, item_changes(spec, body, partial=True), if_match)


def update_settings(
    store: Store, who: Identity, body: Mapping[str, Any], if_match: IfMatch | None, now: int
) -> dict[str, Any]:
    return money.update_settings(store, who, settings_changes(body), if_match, now)


def set_lock(
    store: Store, who: Identity, body: Mapping[str, Any], if_match: IfMatch | None, now: int
) -> dict[str, Any]:
    return money.set_lock(store, who, lock_input(body), if_match, now)


def add_rate(store: Store, who: Identity, body: Mapping[str, Any], now: int) -> dict[str, Any]:
    return money.add_rate(store, who, rate_input(body), now)
