"""The containers of the Cosmos engine: partition keys, index policies, throughput.

Each business container holds its items and, in the same partition, their name guards, owner
leases and outbox events (see documents.py), so that a unit of work is one transactional
batch. `ttl` is on (`default_ttl=-1`: nothing expires unless it says so) for the outbox
events to expire.
"""

from __future__ import annotations

import logging
from typing import Any

from azure.cosmos import PartitionKey, ThroughputProperties, exceptions

from commons.data_access_layer.repository import CATALOGUES

log = logging.getLogger(__name__)

ASC, DESC = "ascending", "descending"
#: Business containers, from the contract (the catalogues' specs, then time entries, webhook
#: endpoints, money settings): their change feed is the audit trail.
BUSINESS = (*(spec.container for spec in CATALOGUES), "time_entry", "webhook", "money")
#: Every container whose writes are audited (personal access tokens are not synced, but their
#: creation and revocation are events): the events app reads the change feed of each.
AUDITED = (*BUSINESS, "access_token")

#: Every container: partition key path, composite indexes (matching the queries' ORDER BYs,
#: which start with the equality filter, so the index serves filter and order at once), TTL.
CONTAINERS: dict[str, dict[str, Any]] = {
    **{name: {"pk": "/tenant_id", "ttl": True} for name in BUSINESS},
    "time_entry": {
        "pk": "/tenant_id",
        "ttl": True,
        "composite": [
            [("/owner_id", DESC), ("/start_at", DESC)],
            [("/tenant_id", DESC), ("/start_at", DESC)],
        ],
    },
    "app_user": {"pk": "/tenant_id"},
    # Webhooks (TT-15): deliveries expire once finished (cosmos_db/webhooks.py).
    "webhook_delivery": {"pk": "/tenant_id", "ttl": True, "unindexed": ["/payload/*", "/log/*"]},
    "event": {"pk": "/tenant_id", "composite": [[("/tenant_id", DESC), ("/date_at", DESC)]]},
    "leases": {"pk": "/id"},
    # TT-15: personal access tokens (with their outbox events, hence TTL) and Idempotency-Key
    # claims (each expires through its own ttl).
    "access_token": {"pk": "/tenant_id", "ttl": True},
    "idempotency": {"pk": "/tenant_id", "ttl": True},
    "migration": {"pk": "/app_id"},
}

# TT-15 sync lists: pages in change order (`ORDER BY c.updated_at, c.id`), also per owner.
for _name in BUSINESS:
    CONTAINERS[_name].setdefault("composite", []).append([("/updated_at", ASC), ("/id", ASC)])
CONTAINERS["time_entry"]["composite"].append([("/owner_id", ASC), ("/updated_at", ASC), ("/id", ASC)])


def indexing_policy(name: str) -> dict[str, Any]:
    """Range indexes on everything but free text and the event context."""
    policy: dict[str, Any] = {
        "indexingMode": "consistent",
        "automatic": True,
        "includedPaths": [{"path": "/*"}],
        "excludedPaths": [
            {"path": '/"_etag"/?'},
            {"path": "/_last_event_ctx/*"},
            {"path": "/description/?"},
        ],
    }
    policy["excludedPaths"] += [{"path": path} for path in CONTAINERS[name].get("unindexed", [])]
    composite = CONTAINERS[name].get("composite")
    if composite:
        policy["compositeIndexes"] = [[{"path": p, "order": o} for p, o in index] for index in composite]
    return policy


def throughput(setting: str) -> ThroughputProperties | int | None:
    """`autoscale:<max>` / `manual:<ru>` / `serverless` (validated by the settings)."""
    if setting == "serverless":
        return None
    kind, value = setting.split(":")
    return ThroughputProperties(auto_scale_max_throughput=int(value)) if kind == "autoscale" else int(value)


def ensure(database: Any, name: str, existing: set[str]) -> bool:
    """Create the container, or bring an existing one's index policy and TTL up to date.
    Answers whether it was created."""
    spec = CONTAINERS[name]
    options: dict[str, Any] = {"indexing_policy": indexing_policy(name)}
    if spec.get("ttl"):
        options["default_ttl"] = -1
    if name not in existing:
        try:
            database.create_container(name, partition_key=PartitionKey(path=spec["pk"]), **options)
            return True
        except exceptions.CosmosResourceExistsError:
            log.warning("container %s already exists; kept", name)
    current = database.get_container_client(name).read()
    wanted_ttl = options.get("default_ttl")
    if (
        current.get("indexingPolicy", {}).get("compositeIndexes", [])
        != options["indexing_policy"].get("compositeIndexes", [])
        or current.get("defaultTtl") != wanted_ttl
    ):
        # The partition key can not change; the index policy and TTL can, in place.
        database.replace_container(name, partition_key=PartitionKey(path=spec["pk"]), **options)
        log.info("container %s: index policy and TTL updated", name)
    return False
