"""Cosmos DB: units of work become transactional batches.

Name guards move into the items' own containers (so a batch can hold both), business
containers get TTL on (outbox events expire), and index policies are brought up to date on
existing containers (the event log's composite index now matches its ORDER BY). SQL engines
have nothing to do here.
"""

from commons.data_access_layer.cosmos_db.containers import CONTAINERS
from migrations import not_reversible, store


def up() -> None:
    target = store()
    target.create_containers(list(CONTAINERS))
    if target.engine_name == "cosmos":
        from commons.data_access_layer.cosmos_db.guards import guard_live_names

        guard_live_names(target)  # type: ignore[arg-type]


down = not_reversible
