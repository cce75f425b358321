"""Money and periods (TT-16): the `money` container (a tenant's currency, rounding, rates and
locked periods), and `billable` on customers, projects and time entries.

SQL: the table, and the new nullable columns added to existing tables (a missing `billable`
means "as the level above": entry -> project -> customer -> billable). Cosmos: the container
(documents without the field read the same way).
"""

from migrations import not_reversible, store


def up() -> None:
    target = store()
    target.create_containers(["money"])
    if target.engine_name in ("sqlite", "postgresql"):
        target.add_missing_columns(["customer", "project", "time_entry"])  # type: ignore[attr-defined]


down = not_reversible
