"""What the store remembers of the people who called the API (e-mail for joins, roles)."""

from __future__ import annotations

import builtins
import random
import time
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from commons.data_access_layer.cosmos_db.documents import stored_body
from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import Record
from commons.domain.errors import Conflict, NotFound, PreconditionFailed, Unavailable

if TYPE_CHECKING:
    from commons.data_access_layer.cosmos_db.units import CosmosUnitOfWork

Mutation = Callable[[builtins.list[str], builtins.list[str]], tuple[builtins.list[str], builtins.list[str]]]


class CosmosUsers:
    """Users of one tenant in `app_user`; every change is an If-Match merge."""

    def __init__(self, uow: CosmosUnitOfWork) -> None:
        self._uow = uow
        self._items = uow.partition("app_user", "User")

    def _blank(self, user_id: str, email: str = "", name: str | None = None) -> dict[str, Any]:
        return {"id": user_id, "tenant_id": self._items.tenant, "email": email, "name": name, "roles": [], "groups": []}

    def remember(self, actor: Actor) -> None:
        """Record e-mail and name, keeping the user's roles and groups."""
        if not actor.email or self._uow.store.remembered.knows(actor):
            return
        for _ in range(10):
            try:
                doc = self._items.read(actor.user_id)
            except NotFound:
                try:
                    self._items.create(self._blank(actor.user_id, actor.email, actor.name))
                    break
                except Conflict:
                    continue
            if doc.get("email") == actor.email and doc.get("name") == actor.name:
                break
            try:
                self._items.replace({**stored_body(doc), "email": actor.email, "name": actor.name}, doc["_etag"])
                break
            except PreconditionFailed:
                continue
        self._uow.store.remembered.learn(actor)
        self._uow.store.names.forget(actor.tenant_id, "app_user", actor.user_id)

    def emails_of(self, user_ids: Collection[str]) -> dict[str, str]:
        """E-mails for the names a write answers with (see names.py)."""
        wanted = {u for u in user_ids if u}
        if not self._uow.write:
            return self.emails(wanted)
        return self._uow.store.names.many(self._items.tenant, "app_user", wanted, self.emails)

    def emails(self, user_ids: Collection[str]) -> dict[str, str]:
        wanted = sorted({u for u in user_ids if u})
        if not wanted:
            return {}
        return {d["id"]: d["email"] for d in self._items.read_many(wanted)}

    @staticmethod
    def _user(doc: Mapping[str, Any]) -> Record:
        return {
            "id": doc["id"],
            "tenant_id": doc["tenant_id"],
            "email": doc.get("email") or None,
            "name": doc.get("name"),
            "roles": list(doc.get("roles") or []),
            "groups": list(doc.get("groups") or []),
        }

    def get(self, user_id: str) -> Record:
        return self._user(self._items.read(user_id))

    def list(self) -> builtins.list[Record]:
        docs = self._items.query("SELECT * FROM c WHERE c.tenant_id = @tenant")
        return sorted((self._user(d) for d in docs), key=lambda u: (u["name"] or "", u["id"]))

    def change(self, user_id: str, mutate: Mutation, create: bool = False) -> Record:
        """Apply `mutate(roles, groups)` with `If-Match`, retrying when someone else won."""
        for _ in range(20):
            try:
                doc = self._items.read(user_id)
            except NotFound:
                if not create:
                    raise
                try:
                    self._items.create(self._blank(user_id))
                except Conflict:
                    pass
                continue
            roles, groups = mutate(list(doc.get("roles") or []), list(doc.get("groups") or []))
            try:
                stored = self._items.replace({**stored_body(doc), "roles": roles, "groups": groups}, doc["_etag"])
                return self._user(stored)
            except PreconditionFailed:
                time.sleep(random.uniform(0.002, 0.02))
        raise Unavailable("Too many simultaneous changes to this user; try again")
