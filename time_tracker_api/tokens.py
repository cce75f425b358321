"""Personal access tokens (`/users/me/tokens`): for scripts that can not get an Azure AD B2C
token. Thin resources over `access_tokens`."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_restx import Namespace, fields

from time_tracker_api import access_tokens, token_inputs
from time_tracker_api.inputs import NOT_BLANK, body
from time_tracker_api.resources import ERROR, Base, NullableString, store
from time_tracker_api.security import current_identity, via_access_token

ns = Namespace(
    "tokens",
    path="/users",
    description="Personal access tokens: send one as `Authorization: Bearer ttp_...` in place of a JWT. "
    "A token acts with its owner's rights (read-only ones only read); it is shown once, stored as a "
    "digest, and a revoke holds from the next request on.",
)
ns.add_model(ERROR.name, ERROR)

token_input = ns.model(
    "AccessTokenInput",
    {
        "name": fields.String(
            required=True, min_length=1, max_length=100, pattern=NOT_BLANK, example="Nightly export script"
        ),
        "read_only": fields.Boolean(description="Only GET requests (default false)", example=True),
        "expires_at": NullableString(
            description="When it stops working (ISO 8601; at most 366 days away); null: never",
            example="2027-06-30T00:00:00Z",
        ),
    },
)
token_model = ns.model(
    "AccessToken",
    {
        "id": fields.String(readonly=True, example="3f0c8b1e9a7d4c2b8e6f5a4d3c2b1a09"),
        "name": fields.String(example="Nightly export script"),
        "owner_id": fields.String(readonly=True),
        "owner_email": NullableString(readonly=True),
        "hint": fields.String(readonly=True, description="The prefix and the last 4 characters", example="ttp_…x9Qa"),
        "read_only": fields.Boolean(example=True),
        "expires_at": NullableString(example="2027-06-30T00:00:00.000Z"),
        "created_at": NullableString(readonly=True, example="2026-12-02T09:30:00.000Z"),
        "last_used_at": NullableString(readonly=True, description="To the minute; null when never used"),
        "revoked_at": NullableString(readonly=True),
        "status": fields.String(readonly=True, enum=["active", "expired", "revoked"], example="active"),
    },
)
created_model = ns.inherit(
    "AccessTokenCreated",
    token_model,
    {
        "token": fields.String(
            readonly=True,
            description="The token itself: shown this once, store it now",
            example="ttp_ZGV2LXRlbmFudA.3f0c8b1e9a7d4c2b8e6f5a4d3c2b1a09.q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9zx9Qa",
        )
    },
)


def _now() -> int:
    return current_app.extensions["time_tracker"].clock()  # type: ignore[no-any-return]


@ns.route("/tokens")
@ns.response(401, "Missing or invalid token", ERROR)
class TenantTokens(Base):
    @ns.response(200, "Every token of your tenant, newest first", [token_model])
    @ns.response(403, "You don't have enough permissions.", ERROR)
    @ns.doc(id="list_tenant_access_tokens")
    def get(self) -> Any:
        """Every personal access token of your tenant (admin)

        Revoked and expired ones included (status says which); never the tokens themselves.
        """
        return access_tokens.list_tokens(store(), current_identity(), None, _now())


@ns.route("/<string:user_id>/tokens")
@ns.param("user_id", "me, or (admins) a user of your tenant")
@ns.response(401, "Missing or invalid token", ERROR)
# A user id with an encoded slash (%2F) makes another path, which no route serves.
@ns.response(404, "No such path (a user id has no slash)", ERROR)
class UserTokens(Base):
    #: A replay would have to keep the token itself to show it again: never stored, so never replayed.
    idempotent = False

    @ns.response(200, "The user's tokens, newest first", [token_model])
    @ns.response(403, "You don't have enough permissions.", ERROR)
    @ns.doc(id="list_access_tokens")
    def get(self, user_id: str) -> Any:
        """List personal access tokens: yours with me, anyone's in your tenant for admins

        With their last use (to the minute), expiry and status; never the tokens themselves.
        """
        return access_tokens.list_tokens(store(), current_identity(), user_id, _now())

    @ns.expect(token_input, validate=False)
    @ns.response(201, "Created: the token is in the answer, this once", created_model)
    @ns.response(400, "Invalid input", ERROR)
    @ns.response(403, "Only for yourself, and only with a sign-in token (JWT)", ERROR)
    @ns.doc(id="create_access_token")
    def post(self, user_id: str) -> Any:
        """Create a personal access token for yourself (me); it is shown once

        Send it as `Authorization: Bearer <token>`. Optional expiry (at most 366 days) and
        read_only. Not subject to Idempotency-Key replays: the token is never stored to be shown again.
        """
        identity = current_identity()
        if user_id not in ("me", identity.user_id):
            from commons.domain.errors import Forbidden

            raise Forbidden("A personal access token can only be created by its owner, for themselves")
        payload, now, via_token = body(), _now(), via_access_token()
        access_tokens.check_sign_in(via_token)  # 403 before the body's fields are judged
        created = access_tokens.create(store(), identity, token_inputs.token_input(payload), now, via_token)
        location = f"{request.root_path}{ns.path}/me/tokens/{created['id']}"
        return created, 201, {"Location": location}


@ns.route("/<string:user_id>/tokens/<string:token_id>")
@ns.param("user_id", "me, or (admins) the token's owner")
@ns.param("token_id", "The token's id")
@ns.response(401, "Missing or invalid token", ERROR)
class UserToken(Base):
    @ns.response(204, "Revoked")
    @ns.response(403, "You don't have enough permissions.", ERROR)
    @ns.response(404, "Personal access token not found", ERROR)
    @ns.doc(id="revoke_access_token")
    def delete(self, user_id: str, token_id: str) -> Any:
        """Revoke a personal access token (yours, or for admins anyone's in your tenant)

        Refused from the next request on, by every worker. It stays listed as revoked.
        """
        access_tokens.revoke(store(), current_identity(), user_id, token_id, _now())
        return None, 204
