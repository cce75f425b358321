"""Migrations (migrate-anything; up only). `python cli.py migrate` or `migrate-anything migrations`.

Each step names the containers it creates; the configured store creates them the way its
engine needs (tables and indexes on SQL). Steps are idempotent: an existing container is kept,
and one that exists does not stop the others.
"""

from __future__ import annotations

from migrate_anything import configure
from migrate_anything.migrator import run
from migrate_anything.storage import Storage

from commons.config import Settings
from commons.data_access_layer.repository import Store
from commons.wiring import build_store

_target: list[Store] = []


def store() -> Store:
    """The store the steps run against: the one given to `migrate`, else the environment's."""
    if not _target:
        _target.append(build_store(Settings.from_env()))
    return _target[0]


class StoreMigrationStorage(Storage):
    """migrate-anything's record of applied steps, kept in the store's `migration` container."""

    def save_migration(self, name: str, code: str) -> None:
        store().save_migration_record(name, code)

    def list_migrations(self) -> list[tuple[str, str]]:
        return store().migration_records()

    def remove_migration(self, name: str) -> None:
        store().remove_migration_record(name)


def not_reversible() -> None:
    raise NotImplementedError("Migrations are up only; restore a backup to go back")


def migrate(target: Store | None = None) -> None:
    """Apply every step not yet recorded in `target` (default: the configured store)."""
    _target.clear()
    if target is not None:
        _target.append(target)
    run(__name__)


configure(storage=StoreMigrationStorage())
