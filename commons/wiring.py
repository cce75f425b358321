"""Picks the store from the settings: the only place that knows which engines exist."""

from __future__ import annotations

from commons.config import DEFAULT_SQLITE_PATH, ConfigError, Settings
from commons.data_access_layer.repository import Store


def build_store(settings: Settings) -> Store:
    """One store per process: Cosmos DB when configured, otherwise SQL (SQLite by default)."""
    if settings.uses_cosmos:
        raise ConfigError(
            "A Cosmos DB account is configured (COSMOS_DATABASE_URI or DATABASE_ACCOUNT_URI), "
            "but this build serves SQL only; unset them to use SQL_DATABASE_URI"
        )
    from commons.data_access_layer.sql import SqlStore

    if settings.sql_database_uri.startswith(f"sqlite:///{DEFAULT_SQLITE_PATH}"):
        DEFAULT_SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    return SqlStore(settings.sql_database_uri)
