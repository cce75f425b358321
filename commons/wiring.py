"""Picks the store from the settings: the only place that knows which engines exist."""

from __future__ import annotations

from commons.config import DEFAULT_SQLITE_PATH, Settings
from commons.data_access_layer.repository import Store
from commons.directory import Directory


def build_store(settings: Settings) -> Store:
    """One store per process: Cosmos DB when configured, otherwise SQL (SQLite by default)."""
    if settings.uses_cosmos:
        from commons.data_access_layer.cosmos_db import CosmosStore

        return CosmosStore(settings)
    from commons.data_access_layer.sql import SqlStore

    if settings.sql_database_uri.startswith(f"sqlite:///{DEFAULT_SQLITE_PATH}"):
        DEFAULT_SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    return SqlStore(
        settings.sql_database_uri, settings.db_statement_timeout_seconds, settings.db_connect_timeout_seconds
    )


def build_directory(settings: Settings, store: Store) -> Directory:
    """Microsoft Graph when MS_* are all set, otherwise the store's own directory."""
    if settings.uses_graph:
        from commons.directory.graph import GraphDirectory

        return GraphDirectory(settings)
    from commons.directory.local import LocalDirectory

    return LocalDirectory(store)
