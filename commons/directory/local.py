"""The directory kept in the store: users are recorded when they first call the API; roles
and groups are per tenant. `python cli.py grant-admin <user> --tenant T` makes the first admin."""

from __future__ import annotations

from collections.abc import Collection

from commons.data_access_layer.events import Actor
from commons.data_access_layer.repository import Store
from commons.directory import ROLE_GROUPS, ROLE_IDS, User, role_value, shaped
from commons.domain.errors import NotFound


class LocalDirectory:
    external = False

    def __init__(self, store: Store) -> None:
        self.store = store

    def seen(self, actor: Actor) -> None:
        if not actor.email:
            return
        remembered = getattr(self.store, "remembered", None)  # the memory engine keeps none
        if remembered is not None and remembered.knows(actor):
            return
        with self.store.unit_of_work(actor, write=True) as uow:
            uow.users.remember(actor)

    def list_users(self, actor: Actor) -> list[User]:
        with self.store.unit_of_work(actor) as uow:
            users = [shaped(u) for u in uow.users.list()]
        if self._is_tester(actor):
            return users
        return [u for u in users if role_value("test") not in u["roles"]]

    def _is_tester(self, actor: Actor) -> bool:
        with self.store.unit_of_work(actor) as uow:
            try:
                return role_value("test") in uow.users.get(actor.user_id)["roles"]
            except Exception:  # noqa: BLE001 - never seen: not a tester
                return False

    def get_user(self, actor: Actor, user_id: str) -> User:
        """A user; test users exist only for testers (as in the listing)."""
        with self.store.unit_of_work(actor) as uow:
            user = shaped(uow.users.get(user_id))
        if role_value("test") in user["roles"] and user_id != actor.user_id and not self._is_tester(actor):
            raise NotFound("User not found")
        return user

    def set_role(self, actor: Actor, user_id: str, role_id: str, granted: bool, create: bool = False) -> User:
        value = role_value(role_id)

        def mutate(roles: list[str], groups: list[str]) -> tuple[list[str], list[str]]:
            roles = sorted(set(roles) | {value}) if granted else [r for r in roles if r != value]
            groups = [g for g in groups if g != ROLE_GROUPS.get(value)]
            return roles, groups

        with self.store.unit_of_work(actor, write=True) as uow:
            user = uow.users.change(user_id, mutate, create=create)
        return shaped(user)

    def change_group(self, actor: Actor, user_id: str, group: str, member: bool) -> User:
        if group in ROLE_GROUPS:
            return self.set_role(actor, user_id, ROLE_IDS[group], member)

        def mutate(roles: list[str], groups: list[str]) -> tuple[list[str], list[str]]:
            return roles, sorted(set(groups) | {group}) if member else [g for g in groups if g != group]

        with self.store.unit_of_work(actor, write=True) as uow:
            return shaped(uow.users.change(user_id, mutate))

    def is_admin(self, actor: Actor) -> bool:
        """Read through the store every time: no process keeps an answer a revoke could outlive."""
        try:
            with self.store.unit_of_work(actor) as uow:
                return role_value("admin") in uow.users.get(actor.user_id)["roles"]
        except NotFound:
            return False

    def emails(self, actor: Actor, user_ids: Collection[str]) -> dict[str, str]:
        with self.store.unit_of_work(actor) as uow:
            return uow.users.emails(user_ids)
