"""The audit event log, the SQL outbox and its checkpoints, the change-feed leases."""

from migrations import not_reversible, store

CONTAINERS = ["event", "change_log", "event_checkpoint", "leases"]


def up() -> None:
    store().create_containers(CONTAINERS)


down = not_reversible
