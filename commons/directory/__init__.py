"""The user directory: who the users are, their roles and groups. Two implementations behind
one contract: the store itself (default) and Microsoft Graph (when MS_* are configured).

The admin role's value `time-tracker-admin` is also reported as the group of that name (and
the tester role as `time-tracker-tester`), and adding or removing those groups grants or
revokes the role, so the front end (which reads groups) and the server (which reads roles)
always agree.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

from commons.data_access_layer.events import Actor
from commons.domain.errors import Invalid

ADMIN_ROLE = "time-tracker-admin"
TESTER_ROLE = "time-tracker-tester"
#: role_id in the paths -> the role's value
ROLES = {"admin": ADMIN_ROLE, "test": TESTER_ROLE}
#: the role's value -> role_id
ROLE_IDS = {value: role_id for role_id, value in ROLES.items()}
#: Groups that are the roles under another name.
ROLE_GROUPS = {ADMIN_ROLE: ADMIN_ROLE, TESTER_ROLE: TESTER_ROLE}

User = dict[str, Any]


def role_value(role_id: str) -> str:
    try:
        return ROLES[role_id]
    except KeyError:
        raise Invalid(f"Unknown role {role_id!r}: use one of {', '.join(ROLES)}") from None


def group_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("group_name is required")
    if len(value) > 256:
        raise Invalid("group_name is too long")
    return value.strip()


def shaped(user: User) -> User:
    """`{id, name, email, roles, groups}` with the role groups folded in."""
    roles = sorted(set(user.get("roles") or []))
    groups = sorted(set(user.get("groups") or []) | {r for r in roles if r in ROLE_GROUPS})
    return {
        "id": user["id"],
        "name": user.get("name"),
        "email": user.get("email"),
        "roles": roles,
        "groups": groups,
        "tenant_id": user.get("tenant_id"),
        "deleted": None,
    }


class Directory(Protocol):
    """What the API asks of a directory; every call is scoped by the calling actor."""

    #: True when e-mails live outside the store (time entries then ask `emails`).
    external: bool

    def seen(self, actor: Actor) -> None:
        """The actor called the API (a local directory records them)."""

    def list_users(self, actor: Actor) -> list[User]: ...

    def get_user(self, actor: Actor, user_id: str) -> User: ...

    def set_role(self, actor: Actor, user_id: str, role_id: str, granted: bool) -> User: ...

    def change_group(self, actor: Actor, user_id: str, group: str, member: bool) -> User: ...

    def is_admin(self, actor: Actor) -> bool:
        """Whether the directory makes the actor an admin (cached briefly)."""

    def emails(self, actor: Actor, user_ids: Collection[str]) -> dict[str, str]:
        """E-mails by user id, in one batched, cached lookup."""
