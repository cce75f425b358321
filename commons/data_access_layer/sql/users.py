"""The e-mail and name each caller last presented, and roles of the local directory, on SQL."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import Record
from commons.data_access_layer.sql.audit import insert_ignore
from commons.data_access_layer.sql.tables import app_user
from commons.domain.clock import now_ms
from commons.domain.errors import NotFound

if TYPE_CHECKING:
    from commons.data_access_layer.sql.unit_of_work import SqlUnitOfWork


class SqlUsers:
    """The e-mail and name each caller last presented (for `owner_email`)."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def remember(self, actor: Actor) -> None:
        if not actor.email or self._uow.remembered.knows(actor) or actor in self._uow.learned:
            return
        dialect = self._uow.conn.dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        values = {
            "tenant_id": actor.tenant_id,
            "id": actor.user_id,
            "email": actor.email,
            "name": actor.name,
            "updated_at": now_ms(),
        }
        stmt = insert(app_user).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[app_user.c.tenant_id, app_user.c.id],
            set_={"email": values["email"], "name": values["name"], "updated_at": values["updated_at"]},
            where=or_(app_user.c.email != values["email"], app_user.c.name.is_distinct_from(values["name"])),
        )
        self._uow.conn.execute(stmt)
        self._uow.learned.append(actor)  # the store remembers it once the unit has committed

    def emails(self, user_ids: Collection[str]) -> dict[str, str]:
        wanted = sorted({u for u in user_ids if u})
        if not wanted:
            return {}
        stmt = select(app_user.c.id, app_user.c.email).where(
            app_user.c.tenant_id == self._uow.actor.tenant_id, app_user.c.id.in_(wanted)
        )
        return {row.id: row.email for row in self._uow.conn.execute(stmt)}

    @staticmethod
    def _user(row: Any) -> Record:
        return {
            "id": row.id,
            "tenant_id": row.tenant_id,
            "email": row.email or None,
            "name": row.name,
            "roles": list(row.roles or []),
            "groups": list(row.groups or []),
        }

    def get(self, user_id: str) -> Record:
        u = app_user
        row = self._uow.conn.execute(
            select(u).where(u.c.tenant_id == self._uow.actor.tenant_id, u.c.id == user_id)
        ).first()
        if row is None:
            raise NotFound("User not found")
        return self._user(row)

    def list(self) -> builtins.list[Record]:
        u = app_user
        rows = self._uow.conn.execute(
            select(u).where(u.c.tenant_id == self._uow.actor.tenant_id).order_by(u.c.name.asc().nulls_first(), u.c.id)
        )
        return [self._user(row) for row in rows]

    def change(
        self,
        user_id: str,
        mutate: Callable[[builtins.list[str], builtins.list[str]], tuple[builtins.list[str], builtins.list[str]]],
        create: bool = False,
    ) -> Record:
        """Apply `mutate(roles, groups)` atomically (the row is locked; SQLite writers are serial)."""
        u = app_user
        tenant = self._uow.actor.tenant_id
        row = self._uow.conn.execute(
            select(u).where(u.c.tenant_id == tenant, u.c.id == user_id).with_for_update()
        ).first()
        if row is None:
            if not create:
                raise NotFound("User not found")
            self._uow.conn.execute(
                insert_ignore(self._uow.conn, app_user, ["tenant_id", "id"]),
                {
                    "tenant_id": tenant,
                    "id": user_id,
                    "email": "",
                    "name": None,
                    "roles": [],
                    "groups": [],
                    "updated_at": now_ms(),
                },
            )
            return self.change(user_id, mutate)
        roles, groups = mutate(list(row.roles or []), list(row.groups or []))
        self._uow.conn.execute(
            u.update()
            .where(u.c.tenant_id == tenant, u.c.id == user_id)
            .values(roles=roles, groups=groups, updated_at=now_ms())
        )
        return self.get(user_id)
