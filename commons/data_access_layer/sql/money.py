"""The money settings of a tenant on SQL (TT-16)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from commons.data_access_layer.events import UPDATE
from commons.data_access_layer.repository import Record
from commons.data_access_layer.sql.base import _record_from, _SqlRepository
from commons.data_access_layer.sql.tables import money
from commons.domain.errors import Conflict, Contended, NotFound, PreconditionFailed

if TYPE_CHECKING:
    from commons.data_access_layer.sql.unit_of_work import SqlUnitOfWork


class SqlMoney(_SqlRepository):
    """The tenant's money settings: one row, written whole with its ETag checked."""

    label = "Money settings"
    container = "money"
    marker = False
    ID = "settings"

    def __init__(self, uow: SqlUnitOfWork) -> None:
        super().__init__(uow, money)

    def get(self) -> Record | None:  # type: ignore[override]  # one record: no id to ask for
        try:
            return _record_from(self._load(self.ID), False)
        except NotFound:
            return None

    def put(self, settings: Mapping[str, Any], if_match: str | None, description: str | None = None) -> Record:
        # `if_match` is the version this unit read: a writer that got there first makes this
        # one decide again (a second creator fails on the primary key, never overwrites).
        try:
            if if_match is None:
                return self._insert({"settings": dict(settings)}, description, self.ID)
            return self._write(self.ID, {"settings": dict(settings)}, if_match, UPDATE, description)
        except (Conflict, PreconditionFailed):
            raise Contended("The money settings were changed at the same time; try again") from None
