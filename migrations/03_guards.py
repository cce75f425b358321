"""Guard documents for Cosmos DB, once kept in a container of their own (since step 05 they
live beside their items, and this step creates nothing)."""

from migrations import not_reversible, store

CONTAINERS = ["guard"]


def up() -> None:
    store().create_containers(CONTAINERS)


down = not_reversible
