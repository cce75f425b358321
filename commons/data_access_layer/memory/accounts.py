"""Users, the money settings and personal access tokens of one tenant, in memory."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from commons.data_access_layer.events import DELETE, UPDATE, Actor
from commons.data_access_layer.memory.base import MemoryRepository
from commons.data_access_layer.memory.tables import Row, as_record
from commons.data_access_layer.repository import Record
from commons.domain.clock import now_ms
from commons.domain.errors import Conflict, Contended, NotFound, PreconditionFailed

if TYPE_CHECKING:
    from commons.data_access_layer.memory.unit_of_work import MemoryUnitOfWork

Mutation = Callable[[builtins.list[str], builtins.list[str]], tuple[builtins.list[str], builtins.list[str]]]


class MemoryUsers:
    """The e-mail and name each caller last presented, and the local directory's roles and
    groups. As on SQL, these rows carry no version and no event context."""

    container = "app_user"

    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def _rows(self) -> Mapping[str, Row]:
        return self._uow.tables.rows(self.container)

    def _put(self, row: Row) -> None:
        self._uow.write_rows(self.container)[row["id"]] = row

    def remember(self, actor: Actor) -> None:
        if not actor.email:
            return
        known = self._rows().get(actor.user_id)
        if known is not None and known["email"] == actor.email and known["name"] == actor.name:
            return
        base = known or {"tenant_id": actor.tenant_id, "id": actor.user_id, "roles": None, "groups": None}
        self._put({**base, "email": actor.email, "name": actor.name, "updated_at": now_ms()})

    def emails(self, user_ids: Collection[str]) -> dict[str, str]:
        rows = self._rows()
        found = (rows.get(user_id) for user_id in {u for u in user_ids if u})
        return {row["id"]: row["email"] for row in found if row is not None}

    @staticmethod
    def _user(row: Mapping[str, Any]) -> Record:
        return {
            "id": row["id"],
            "tenant_id": row["tenant_id"],
            "email": row["email"] or None,
            "name": row["name"],
            "roles": list(row["roles"] or []),
            "groups": list(row["groups"] or []),
        }

    def get(self, user_id: str) -> Record:
        row = self._rows().get(user_id)
        if row is None:
            raise NotFound("User not found")
        return self._user(row)

    def list(self) -> builtins.list[Record]:
        # A user without a name first, as SQLite and Cosmos order them.
        rows = sorted(self._rows().values(), key=lambda row: (row["name"] is not None, row["name"] or "", row["id"]))
        return [self._user(row) for row in rows]

    def change(self, user_id: str, mutate: Mutation, create: bool = False) -> Record:
        self._uow.begin_write()
        row = self._rows().get(user_id)
        if row is None:
            if not create:
                raise NotFound("User not found")
            row = {"tenant_id": self._uow.actor.tenant_id, "id": user_id, "email": "", "name": None}
            row.update(roles=[], groups=[])
        roles, groups = mutate(list(row["roles"] or []), list(row["groups"] or []))
        self._put({**row, "roles": list(roles), "groups": list(groups), "updated_at": now_ms()})
        return self.get(user_id)


class MemoryMoney(MemoryRepository):
    """The tenant's money settings: one row, written whole with its ETag checked."""

    label = "Money settings"
    container = "money"
    marker = False
    ID = "settings"

    def get(self) -> Record | None:  # type: ignore[override]  # one record: no id to ask for
        row = self._rows().get(self.ID)
        return None if row is None else as_record(row, False)

    def put(self, settings: Mapping[str, Any], if_match: str | None, description: str | None = None) -> Record:
        # As on SQL: a writer that got there first makes this one decide again.
        try:
            if if_match is None:
                return self._insert({"settings": dict(settings)}, description, self.ID)
            return self._write(self.ID, {"settings": dict(settings)}, if_match, UPDATE, description)
        except (Conflict, PreconditionFailed):
            raise Contended("The money settings were changed at the same time; try again") from None


class MemoryAccessTokens(MemoryRepository):
    """Personal access tokens of one tenant; revoking is a soft delete (`revoked_at`)."""

    label = "Personal access token"
    container = "access_token"
    marker = False  # revoked tokens stay readable (listed as revoked, refused at use)

    def _token(self, row: Mapping[str, Any]) -> Record:
        return {**as_record(row, False), "created_at": row["created_at"]}

    def add(self, token_id: str, fields: Mapping[str, Any]) -> Record:
        added = self._insert(fields, None, token_id)
        return {**added, "created_at": self._rows()[token_id]["created_at"]}

    def get(self, token_id: str) -> Record:
        return self._token(self._load(token_id))

    def list(self, owner_id: str | None = None) -> builtins.list[Record]:
        rows = [row for row in self._rows().values() if owner_id is None or row["owner_id"] == owner_id]
        rows.sort(key=lambda row: (-row["created_at"], row["id"]))
        return [self._token(row) for row in rows]

    def revoke(self, token_id: str, now: int) -> Record:
        current = self.get(token_id)
        if current.get("revoked_at") is not None:
            return current
        written = self._write(token_id, {"revoked_at": now}, None, DELETE, "Revoke personal access token")
        return {**written, "created_at": current["created_at"]}

    def touch(self, token: Record, now: int) -> None:
        """Bookkeeping: no event, no new version (as on SQL, a missing token is no error)."""
        rows = self._uow.write_rows(self.container)
        row = rows.get(token["id"])
        if row is not None:
            rows[token["id"]] = {**row, "last_used_at": now}
