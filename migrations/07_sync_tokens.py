"""TT-15: personal access tokens and Idempotency-Key claims (new tables/containers), and the
indexes of `updated_since` sync lists on existing tables (SQL) or containers' index policies
(Cosmos)."""

from migrations import not_reversible, store

CONTAINERS = ["access_token", "idempotency_key", "idempotency"]


def up() -> None:
    target = store()
    target.create_containers(CONTAINERS)
    if target.engine_name == "cosmos":
        from commons.data_access_layer.cosmos_db.containers import CONTAINERS as ALL

        target.create_containers(list(ALL))  # brings index policies up to date
    elif target.engine_name in ("sqlite", "postgresql"):
        from commons.data_access_layer.sql.integrations import create_sync_indexes

        create_sync_indexes(target)  # type: ignore[arg-type]


down = not_reversible
