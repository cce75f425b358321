"""Time entries, and the users whose e-mail the entries show."""

from migrations import not_reversible, store

CONTAINERS = ["time_entry", "app_user"]


def up() -> None:
    store().create_containers(CONTAINERS)


down = not_reversible
