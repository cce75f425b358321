"""Users, roles and groups (`/users`): reads for any user of the tenant, changes for admins."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_restx import Namespace, fields

from commons.directory import ADMIN_ROLE, ROLES, Directory, User, group_name
from commons.domain.identity import Identity, require_admin
from time_tracker_api.inputs import NOT_BLANK, body
from time_tracker_api.resources import ERROR, Base, NullableString
from time_tracker_api.security import current_identity

ns = Namespace("users", description="Users of your tenant, their roles and groups")
ns.add_model(ERROR.name, ERROR)

user = ns.model(
    "User",
    {
        "id": fields.String,
        "name": NullableString(example="Ana Pérez"),
        "email": NullableString(example="ana@example.com"),
        "roles": fields.List(fields.String, example=["time-tracker-admin"]),
        "groups": fields.List(fields.String, example=["time-tracker-admin"]),
        "tenant_id": NullableString,
        "deleted": NullableString(description="Always null"),
    },
)
group_input = ns.model(
    "UserGroup",
    {"group_name": fields.String(required=True, max_length=256, pattern=NOT_BLANK, example="time-tracker-admin")},
)
membership = ns.model("Membership", {"value": fields.Boolean})


def directory() -> Directory:
    return current_app.extensions["time_tracker"].directory  # type: ignore[no-any-return]


def as_seen_by(identity: Identity, user: User) -> User:
    """The caller's own record reflects their token: an admin by claim is shown with the
    admin role and group, as every admin rule already treats them."""
    if user["id"] != identity.user_id or not identity.is_admin:
        return user
    return {
        **user,
        "roles": sorted({*user["roles"], ADMIN_ROLE}),
        "groups": sorted({*user["groups"], ADMIN_ROLE}),
    }


def change_role(identity: Identity, user_id: str, role_id: str, granted: bool) -> User:
    require_admin(identity)
    return directory().set_role(identity, user_id, role_id, granted)


def change_group(identity: Identity, user_id: str, name: str, member: bool) -> User:
    require_admin(identity)
    return directory().change_group(identity, user_id, name, member)


@ns.route("")
@ns.response(401, "Missing or invalid token", ERROR)
class Users(Base):
    @ns.response(200, "Success", [user])
    @ns.doc(id="list_users")
    def get(self) -> Any:
        """The users of your tenant (test users only for testers)

        Each with roles and groups; your own entry reflects the admin claim of your token.
        """
        identity = current_identity()
        return [as_seen_by(identity, u) for u in directory().list_users(identity)]


@ns.route("/<string:id>")
@ns.response(401, "Missing or invalid token", ERROR)
@ns.response(404, "User not found", ERROR)
class OneUser(Base):
    @ns.response(200, "Success", user)
    @ns.doc(id="get_user")
    def get(self, id: str) -> Any:
        """A user, with roles and groups (groups include time-tracker-admin for admins)

        Roles and groups from the directory; for yourself, the admin claim of your token counts too.
        """
        identity = current_identity()
        return as_seen_by(identity, directory().get_user(identity, id))


def _role_routes(prefix: str, documented: bool) -> None:
    for action, granted in (("grant", True), ("revoke", False)):

        @ns.param("role_id", "admin or test", enum=sorted(ROLES))
        class RoleChange(Base):
            __doc__ = f"{action} a role"

            @ns.response(200, "The user after the change", user)
            @ns.response(400, "Unknown role", ERROR)
            @ns.response(403, "You don't have enough permissions.", ERROR)
            @ns.response(404, "User not found", ERROR)
            def post(self, id: str, role_id: str, _granted: bool = granted) -> Any:
                identity = current_identity()
                return as_seen_by(identity, change_role(identity, id, role_id, _granted))

        RoleChange.post.__doc__ = (
            f"{action.capitalize()} the role admin or test (admin)\n\n"
            "role_id is admin (the time-tracker-admin group) or test; the answer is the user after the change."
        )
        ns.doc(id=f"{action}_role" if documented else f"{action}_role_short")(RoleChange.post)
        RoleChange.__name__ = f"Role{action.capitalize()}{'Short' if not documented else ''}"
        ns.route(f"/<string:id>{prefix}/<string:role_id>/{action}", doc=None if documented else False)(RoleChange)


_role_routes("/roles", documented=True)
_role_routes("", documented=False)  # the newer front end leaves out "roles/"


def _group_route(action: str, member: bool) -> None:
    class GroupChange(Base):
        @ns.expect(group_input, validate=False)
        @ns.response(200, "The user after the change", user)
        @ns.response(400, "Missing group_name or unknown group", ERROR)
        @ns.response(403, "You don't have enough permissions.", ERROR)
        @ns.response(404, "User not found", ERROR)
        def post(self, id: str) -> Any:
            identity = current_identity()
            require_admin(identity)  # 403 before the body is judged
            name = group_name(body().get("group_name"))
            return as_seen_by(identity, change_group(identity, id, name, member))

    GroupChange.post.__doc__ = (
        f"{'Add the user to' if member else 'Remove the user from'} a group (admin)\n\n"
        "group_name in the body names the group (time-tracker-admin or time-tracker-tester)."
    )
    ns.doc(id=f"{'add_user_to' if member else 'remove_user_from'}_group")(GroupChange.post)
    GroupChange.__name__ = f"Group{action.capitalize()}"
    ns.route(f"/<string:id>/groups/{action}")(GroupChange)


_group_route("add", True)
_group_route("remove", False)


@ns.route("/<string:id>/is-member-of")
@ns.response(401, "Missing or invalid token", ERROR)
class IsMemberOf(Base):
    @ns.expect(group_input, validate=False)
    @ns.response(200, "Whether the user is in the group", membership)
    @ns.response(400, "Missing group_name", ERROR)
    @ns.response(404, "User not found", ERROR)
    @ns.doc(id="is_user_member_of_group")
    def post(self, id: str) -> Any:
        """Whether a user is a member of a group

        value is true when group_name is one of the user's groups.
        """
        group = group_name(body().get("group_name"))
        identity = current_identity()
        return {"value": group in as_seen_by(identity, directory().get_user(identity, id))["groups"]}
