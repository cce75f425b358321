"""One-off upkeep of name guards (migrations): every live item holds its name's guard."""

from __future__ import annotations

import logging

from azure.cosmos import exceptions

from commons.data_access_layer.cosmos_db.documents import GUARD, ITEMS_ONLY
from commons.data_access_layer.cosmos_db.store import CosmosStore
from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import CATALOGUES

log = logging.getLogger(__name__)


def guard_live_names(store: CosmosStore) -> int:
    """Create the guard of every live item that has none (items stored before guards lived
    in their containers); answer how many were created. Safe to run again."""
    created = 0
    for spec in CATALOGUES:
        proxy = store.proxy(spec.container)
        live = " AND c.status = 'active'" if spec.soft_delete == "deactivate" else " AND IS_NULL(c.deleted)"
        items = proxy.query_items(
            f"SELECT * FROM c WHERE IS_DEFINED(c.name){ITEMS_ONLY}{live}", enable_cross_partition_query=True
        )
        for item in items:
            with store.unit_of_work(Actor("migration", item["tenant_id"])) as uow:
                guard_id = uow.catalogue(spec).guard_id(item)
            body = {"id": guard_id, "tenant_id": item["tenant_id"], "_kind": GUARD, "item_id": item["id"]}
            try:
                proxy.create_item(body)
                created += 1
            except exceptions.CosmosResourceExistsError:
                pass  # guarded already (or a duplicate name stored before guards: kept as is)
    log.info("name guards created: %d", created)
    return created
