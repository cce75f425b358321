"""The catalogue: customers, project types, projects, activities, technologies."""

from migrations import not_reversible, store

CONTAINERS = ["customer", "project_type", "project", "activity", "technology"]


def up() -> None:
    store().create_containers(CONTAINERS)


down = not_reversible
