"""Guard documents (unique names, owner leases) for engines without transactions (Cosmos)."""

from migrations import not_reversible, store

CONTAINERS = ["guard"]


def up() -> None:
    store().create_containers(CONTAINERS)


down = not_reversible
