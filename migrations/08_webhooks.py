"""Webhooks (TT-15): endpoints (`webhook`) and their deliveries (`webhook_delivery`)."""

from migrations import not_reversible, store

CONTAINERS = ["webhook", "webhook_delivery"]


def up() -> None:
    target = store()
    if target.engine_name != "cosmos":
        import commons.data_access_layer.sql.webhooks  # noqa: F401 - puts the tables in the metadata
    target.create_containers(CONTAINERS)


down = not_reversible
